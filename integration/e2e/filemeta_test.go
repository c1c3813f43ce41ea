package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// fileMetaSetup makes, on the host, files whose content the test rewrites:
// set-user-ID and set-group-ID files, files with an ACL entry and a user
// extended attribute, a file in a set-group-ID directory and one in a
// sticky directory owned by another user than root.
const fileMetaSetup = `set -e
mkdir -p /srv/meta /srv/shared /srv/sticky /srv/blob /srv/line
printf 'old suid\n' > /srv/meta/suid; chown root:root /srv/meta/suid; chmod 4755 /srv/meta/suid
printf 'old sgid\n' > /srv/meta/sgid; chown root:staff /srv/meta/sgid; chmod 2755 /srv/meta/sgid
printf 'old acl\n' > /srv/meta/acl; chmod 0640 /srv/meta/acl
chgrp staff /srv/shared; chmod 2775 /srv/shared
printf 'old shared\n' > /srv/shared/conf; chown root:staff /srv/shared/conf; chmod 0664 /srv/shared/conf
chmod 1777 /srv/sticky
printf 'old sticky\n' > /srv/sticky/f; chown ops:ops /srv/sticky/f; chmod 0644 /srv/sticky/f
printf 'old blob\n' > /srv/blob/acl.bin; chmod 0600 /srv/blob/acl.bin
printf 'a=1\n' > /srv/line/acl.conf; chmod 0644 /srv/line/acl.conf
for f in /srv/meta/acl /srv/shared/conf /srv/blob/acl.bin /srv/line/acl.conf; do
  setfacl -m u:nobody:r "$f"
  setfattr -n user.tend -v x "$f"
done
`

// fileMetaConfig rewrites every file of fileMetaSetup without declaring a
// mode or an owner: three in one directory (a staged batch), two alone
// in theirs (the batch one by one), binary content (a script of its own)
// and a line edit.
const fileMetaConfig = `
file "suid" {
  path    = "/srv/meta/suid"
  content = "new suid\n"
}
file "sgid" {
  path    = "/srv/meta/sgid"
  content = "new sgid\n"
}
file "acl" {
  path    = "/srv/meta/acl"
  content = "new acl\n"
}
file "shared" {
  path    = "/srv/shared/conf"
  content = "new shared\n"
}
file "sticky" {
  path    = "/srv/sticky/f"
  content = "new sticky\n"
}
file "blob" {
  path   = "/srv/blob/acl.bin"
  source = "blob.bin"
}
line "acl" {
  path = "/srv/line/acl.conf"
  line = "b=2"
}
`

// TestRewriteKeepsModeACLAndXattrs: rewriting the content of files whose
// mode and owner are not declared keeps, on the host, their set-id bits,
// ownership, ACL and extended attributes, and those of their directories
// (set-group-ID, sticky), on every path that writes a file (a staged
// batch, the batch one by one, a file's own script, a line edit); rolling
// the run back restores the old content with the same metadata.
func TestRewriteKeepsModeACLAndXattrs(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "filemeta"})
	if _, err := l.Exec(1, fileMetaSetup); err != nil {
		t.Fatalf("setting up the files (the image needs acl and attr): %v", err)
	}
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.hcl"), fileMetaConfig)
	blob := "new\x00blob\n"
	write(t, filepath.Join(dir, "blob.bin"), blob)

	files := []string{"/srv/meta/suid", "/srv/meta/sgid", "/srv/meta/acl", "/srv/shared/conf", "/srv/sticky/f", "/srv/blob/acl.bin", "/srv/line/acl.conf"}
	newContent := map[string]string{
		"/srv/meta/suid": "new suid\n", "/srv/meta/sgid": "new sgid\n", "/srv/meta/acl": "new acl\n",
		"/srv/shared/conf": "new shared\n", "/srv/sticky/f": "new sticky\n", "/srv/blob/acl.bin": blob,
		"/srv/line/acl.conf": "a=1\nb=2\n",
	}
	// meta is what the host says of a path: mode, owner, ACL, extended
	// attributes (ACLs included: system.posix_acl_access), then the
	// content's digest.
	meta := func(p string) (attrs, sum string) {
		t.Helper()
		q := "'" + p + "'"
		out, err := l.Exec(1, "stat -c '%a %U:%G' -- "+q+" && getfacl -p --omit-header -- "+q+" && getfattr -h -d -m - -e hex --absolute-names -- "+q+" | sed '/^# file/d' && if [ -f "+q+" ]; then sha256sum < "+q+"; else echo -; fi")
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")
		return out[:i+1], strings.Fields(out[i+1:])[0]
	}
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	before := map[string]string{}
	oldSum := map[string]string{}
	for _, p := range append(files, "/srv/shared", "/srv/sticky") {
		before[p], oldSum[p] = meta(p)
	}
	// The setup holds what the test means to keep.
	for p, want := range map[string][]string{
		"/srv/meta/suid":     {"4755 root:root\n"},
		"/srv/meta/sgid":     {"2755 root:staff\n"},
		"/srv/shared":        {"2775 root:staff\n"},
		"/srv/sticky":        {"1777 root:root\n"},
		"/srv/sticky/f":      {"644 ops:ops\n"},
		"/srv/meta/acl":      {"user:nobody:r--\n", "user.tend=0x78\n", "system.posix_acl_access="},
		"/srv/shared/conf":   {"user:nobody:r--\n", "user.tend=0x78\n"},
		"/srv/blob/acl.bin":  {"user:nobody:r--\n", "user.tend=0x78\n"},
		"/srv/line/acl.conf": {"user:nobody:r--\n", "user.tend=0x78\n"},
	} {
		for _, w := range want {
			if !strings.Contains(before[p], w) {
				t.Fatalf("setup: %s lacks %q:\n%s", p, w, before[p])
			}
		}
	}

	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	for _, p := range append(files, "/srv/shared", "/srv/sticky") {
		got, sum := meta(p)
		if got != before[p] {
			t.Errorf("%s: after the rewrite\n%s\nwant\n%s", p, got, before[p])
		}
		if c, ok := newContent[p]; ok && sum != digest(c) {
			t.Errorf("%s: content sha256 %s, want that of %q", p, sum, c)
		}
	}
	if _, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (no changes)", code)
	}

	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	if _, _, code := tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d", code)
	}
	for _, p := range append(files, "/srv/shared", "/srv/sticky") {
		if got, sum := meta(p); got != before[p] || sum != oldSum[p] {
			t.Errorf("%s: after the rollback\n%s%s\nwant\n%s%s", p, got, sum, before[p], oldSum[p])
		}
	}
	// No temporary file is left next to the files.
	if out, err := l.Exec(1, "find /srv -name '.tend*'"); err != nil || out != "" {
		t.Errorf("temporary files left: %q %v", out, err)
	}
}
