package resources_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/resources"
)

// TestMetaCopy runs FileFuncs' _tmhas and _tmeta on a real sh with fake
// getfattr/setfattr/getfacl/setfacl (the only commands in PATH), so what
// they do with each tool's output is checked on any machine: xattrs
// restored one by one with their base64 values (padding included), the
// ACL through setfacl when only getfacl is there, nothing run when there
// is nothing to copy, and a failure to set one reported with its cause.
func TestMetaCopy(t *testing.T) {
	tests := map[string]struct {
		tools   map[string]string // fake command -> its sh body
		has     bool              // _tmhas's answer
		status  int               // _tmeta's exit status
		calls   string            // what the fakes logged
		message string            // in stderr
	}{
		"xattrs": {
			tools: map[string]string{
				"getfattr": `printf '# file: /src\nsystem.posix_acl_access=0sAgAAAA==\nuser.tend=0seA==\nuser.empty\n\n'`,
				"setfattr": `echo "setfattr $*" >> "$LOG"`,
				"getfacl":  `echo "getfacl must not run" >> "$LOG"`,
			},
			has: true,
			calls: "setfattr -h -n system.posix_acl_access -v 0sAgAAAA== -- /dst\n" +
				"setfattr -h -n user.tend -v 0seA== -- /dst\n" +
				"setfattr -h -n user.empty -- /dst\n",
		},
		"nothing to copy": {
			tools: map[string]string{"getfattr": `:`, "setfattr": `echo "setfattr $*" >> "$LOG"`},
		},
		"set fails": {
			tools: map[string]string{
				"getfattr": `printf '# file: x\nsecurity.capability=0sAQ==\n'`,
				"setfattr": `echo "setfattr $*" >> "$LOG"; exit 1`,
			},
			has: true, status: 1,
			calls:   "setfattr -h -n security.capability -v 0sAQ== -- /dst\n",
			message: "cannot keep the extended attributes of /src",
		},
		"acl only": {
			tools: map[string]string{
				"getfacl": `case "$1" in -s) printf '# file: /src\n# owner: root\nuser::rw-\nuser:nobody:r--\ngroup::r--\nmask::r--\nother::---\n\n';; esac`,
				"setfacl": `echo "setfacl $*" >> "$LOG"; while IFS= read -r l; do printf '%s\n' "$l"; done >> "$LOG"`,
			},
			has:   true,
			calls: "setfacl --set-file=- -- /dst\n# file: /src\n# owner: root\nuser::rw-\nuser:nobody:r--\ngroup::r--\nmask::r--\nother::---\n",
		},
		"no acl": {
			tools: map[string]string{"getfacl": `:`, "setfacl": `echo "setfacl $*" >> "$LOG"`},
		},
		"no tools": {},
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		t.Skip("SELinux is enabled here: _tmeta would run chcon")
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			for tool, body := range tt.tools {
				if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!"+sh+"\n"+body+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			script := resources.FileFuncs + `if _tmhas /src; then echo has; else echo none; fi
_tmeta /src /dst
`
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = []string{"PATH=" + dir, "LOG=" + log}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "has\n", false: "none\n"}[tt.has]; string(out) != want {
				t.Errorf("_tmhas printed %q, want %q", out, want)
			}
			if status != tt.status {
				t.Errorf("_tmeta exit %d, want %d (stderr %q)", status, tt.status, stderr.String())
			}
			b, _ := os.ReadFile(log)
			if string(b) != tt.calls {
				t.Errorf("calls:\n%s\nwant:\n%s", b, tt.calls)
			}
			if !strings.Contains(stderr.String(), tt.message) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.message)
			}
		})
	}
}
