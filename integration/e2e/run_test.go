package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/redact"
)

// TestAdHocRun: tend run on ten lab hosts over SSH, made to differ (one
// answers otherwise, one exits 4, one is stopped): identical answers are
// folded, exit statuses and the unreachable host are reported, the
// inventory's secret is redacted from the output, the run is journaled
// with keyed digests of what each host really printed, the command never
// shows on a command line, and --json parses.
func TestAdHocRun(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 10, Name: "adhoc"})
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := l.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	const token = "tok-e2e-51c0ffee"
	t.Setenv("TEND_E2E_RUN_TOKEN", token)
	f, err := os.OpenFile(inv, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "\ngroup \"lab\" {\n  vars = { api_token = secret(\"env:TEND_E2E_RUN_TOKEN\") }\n}")
	f.Close()

	for i, h := range l.Hosts {
		release := "bookworm-a\n"
		if i == 2 {
			release = "bookworm-b\n"
		}
		write(t, filepath.Join(h.Root, "etc/run-release"), release)
		write(t, filepath.Join(h.Root, "etc/app-token"), token+"\n")
	}
	write(t, filepath.Join(l.Host(9).Root, "etc/fail-me"), "")
	if err := l.Stop(10); err != nil {
		t.Fatal(err)
	}

	mark := "adhocmark-" + hex.EncodeToString([]byte(t.Name()))[:12]
	command := ": " + mark + "; cat /etc/run-release /etc/app-token; sleep 0.5; test -f /etc/fail-me && { echo failing >&2; exit 4; }; exit 0"
	sampler := startSampler([]string{mark}, func([]string) bool { return false })
	out, errb, code := tend(t, "run", "-C", dir, "--timeout", "60s", "all", "--", command)
	samples, hits := sampler.finish()
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a host exited 4, one is down)\n%s%s", code, out, errb)
	}
	want := `------------------
adhoc[1-2,4-8] (7)
------------------
bookworm-a
(sensitive)
---------------
adhoc3 (1)
---------------
bookworm-b
(sensitive)
-----------------
adhoc9 (1) exit 4
-----------------
bookworm-a
(sensitive)
--- stderr
failing

10 hosts: 8 exit 0 (adhoc[1-8]), 1 exit 4 (adhoc9), 1 unreachable (adhoc10).
  adhoc10: unreachable: `
	if !strings.HasPrefix(out, want) {
		t.Errorf("output:\n%s\nwant it to start with:\n%s", out, want)
	}
	if strings.Contains(out+errb, token) {
		t.Errorf("the secret was printed")
	}
	if samples < 10 || len(hits) > 0 {
		t.Errorf("the command on a command line (%d samples): %v", samples, hits)
	}

	// The journal, against what each host holds.
	r := lastRunOf(t, dir)
	if r.Command != "run" || r.AdHoc == nil || r.Outcome != "failed" || strings.Contains(r.AdHoc.Command, token) || !strings.Contains(r.AdHoc.Command, mark) {
		t.Fatalf("journaled run: %+v %+v", r, r.AdHoc)
	}
	byName := map[string]*lab.Host{}
	wantHosts := map[string]string{}
	for _, h := range l.Hosts {
		byName[h.Name] = h
		wantHosts[h.Name] = "success exit 0"
	}
	wantHosts["adhoc9"], wantHosts["adhoc10"] = "failed exit 4", "unreachable"
	got := map[string]string{}
	for _, h := range r.Hosts {
		s := h.Outcome
		if res := h.Result; res != nil && res.ExitStatus != nil {
			s += fmt.Sprintf(" exit %d", *res.ExitStatus)
			host := byName[h.Name]
			stdout := read(t, filepath.Join(host.Root, "etc/run-release")) + read(t, filepath.Join(host.Root, "etc/app-token"))
			m := redact.KeyedHash()
			m.Write([]byte(stdout))
			if wantD := redact.KeyedPrefix + hex.EncodeToString(m.Sum(nil)); res.Stdout.Digest != wantD || res.Stdout.Bytes != len(stdout) || !res.Root {
				t.Errorf("%s: journaled stdout %+v root %v, want %d bytes %s, root", h.Name, res.Stdout, res.Root, len(stdout), wantD)
			}
		}
		got[h.Name] = s
	}
	if d := cmp.Diff(wantHosts, got); d != "" {
		t.Errorf("journaled hosts (-want +got):\n%s", d)
	}
	raw := read(t, filepath.Join(dir, ".tend", "runs", r.ID+".journal"))
	if strings.Contains(raw, token) || strings.Contains(raw, "bookworm") {
		t.Errorf("the journal holds the output or the secret:\n%s", raw)
	}
	if out, _, code := tend(t, "show", "-C", dir, r.ID); code != 0 || !strings.Contains(out, "adhoc[1-2,4-8] (7): exit 0") || !strings.Contains(out, "adhoc10: unreachable") {
		t.Errorf("tend show: exit %d\n%s", code, out)
	}
	if out, _, _ := tend(t, "runs", "-C", dir); !strings.Contains(out, "run: : "+mark) {
		t.Errorf("tend runs does not list the command:\n%s", out)
	}

	// --json: every line parses, one result per host.
	out, _, code = tend(t, "run", "-C", dir, "--json", "all", "--", "cat /etc/run-release")
	if code != 1 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	outcomes := map[string]string{}
	var summary, last map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		switch m["type"] {
		case "command_result":
			outcomes[m["host"].(string)] = fmt.Sprintf("%v %v %q", m["outcome"], m["exit_status"], m["stdout"])
		case "command_summary":
			summary = m
		}
		last = m
	}
	wantJSON := map[string]string{}
	for _, h := range l.Hosts {
		wantJSON[h.Name] = `success 0 "bookworm-a\n"`
	}
	wantJSON["adhoc3"], wantJSON["adhoc10"] = `success 0 "bookworm-b\n"`, `unreachable <nil> ""`
	if d := cmp.Diff(wantJSON, outcomes); d != "" {
		t.Errorf("--json results (-want +got):\n%s", d)
	}
	if summary["outcome"] != "failed" || last["type"] != "outcome" || last["result"] != "failed" || last["exit_code"] != 1.0 {
		t.Errorf("summary %v, last line %v", summary, last)
	}
}
