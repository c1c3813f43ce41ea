package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

func ran(name string, exit int, stdout, stderr string) *adhocHost {
	return &adhocHost{host: &inventory.Host{Name: name}, exit: &exit, stdout: []byte(stdout), stderr: []byte(stderr), outcome: adhocSuccess}
}

func TestGroupOutputs(t *testing.T) {
	hosts := []*adhocHost{
		ran("web01", 0, "6.1.0-18\n", ""),
		ran("web02", 0, "6.1.0-18\n", ""),
		ran("web03", 0, "6.1.0-17\n", ""),
		ran("web07", 0, "6.1.0-18\n", ""),
		ran("db1", 0, "6.1.0-18\n", ""),
		ran("db2", 1, "6.1.0-18\n", ""),       // same output, another status
		ran("db3", 0, "6.1.0-18\n", "warn\n"), // same output, stderr differs
		ran("db4", 0, "6.1.0-17\n", ""),
		{host: &inventory.Host{Name: "web09"}, outcome: adhocUnreachable, err: "connection refused"},
	}
	var got []string
	for _, g := range groupOutputs(hosts) {
		got = append(got, strings.Join(g.hosts, ","))
	}
	want := []string{"db1,web01,web02,web07", "db4,web03", "db3", "db2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	var b bytes.Buffer
	writeGroups(&b, groupOutputs(hosts), false)
	wantText := `---------------------
db1,web[01-02,07] (4)
---------------------
6.1.0-18
---------------
db4,web03 (2)
---------------
6.1.0-17
---------------
db3 (1)
---------------
6.1.0-18
--- stderr
warn
---------------
db2 (1) exit 1
---------------
6.1.0-18
`
	if d := cmp.Diff(wantText, b.String()); d != "" {
		t.Errorf("writeGroups (-want +got):\n%s", d)
	}
	wantSummary := []string{
		"9 hosts: 7 exit 0 (db[1,3-4],web[01-03,07]), 1 exit 1 (db2), 1 unreachable (web09).",
		"  web09: unreachable: connection refused",
	}
	if d := cmp.Diff(wantSummary, summaryLines(hosts)); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
}

func TestGroupOutputsOrder(t *testing.T) {
	// Equal sizes: by exit status, then first host. No trailing newline
	// and no output at all are shown as such.
	hosts := []*adhocHost{ran("b1", 2, "x", ""), ran("a1", 2, "y", ""), ran("c1", 0, "", "")}
	var b bytes.Buffer
	writeGroups(&b, groupOutputs(hosts), false)
	want := "---------------\nc1 (1)\n---------------\n(no output)\n" +
		"---------------\na1 (1) exit 2\n---------------\ny\n" +
		"---------------\nb1 (1) exit 2\n---------------\nx\n"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// hostShell makes local hosts tell themselves apart: each script runs
// with $H set to the inventory name, as real hosts differ by their files.
type hostShell struct {
	transport.Transport
	name string
}

func (h hostShell) Run(ctx context.Context, c transport.Command) (*transport.Result, error) {
	c.Script = "H=" + shell.Quote(h.name) + "\n" + c.Script
	return h.Transport.Run(ctx, c)
}

func withHostShell(t *testing.T) {
	t.Helper()
	connectHook = func(next plan.Connector) plan.Connector {
		return func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			tr, err := next(ctx, h)
			if err != nil {
				return nil, err
			}
			return hostShell{tr, h.Name}, nil
		}
	}
	t.Cleanup(func() { connectHook = nil })
}

// runInventory is four local hosts and one that refuses connections.
const runInventory = `
host "web01" { transport = "local" }
host "web02" { transport = "local" }
host "web03" { transport = "local" }
host "web04" { transport = "local" }
host "gone" {
  address       = "127.0.0.1"
  port          = 1
  user          = "nobody"
  identity_file = "id_none"
  groups        = ["far"]
  vars          = { token = secret("env:TEND_TEST_RUN_TOKEN") }
}
`

func TestRunCommand(t *testing.T) {
	withHostShell(t)
	t.Setenv("TEND_TEST_RUN_TOKEN", "tok-3f9a1c77")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": runInventory, "id_none": "not a key\n"})
	command := `case $H in web03) echo other;; *) echo same; echo tok-3f9a1c77;; esac; [ "$H" = web04 ] && { echo bad >&2; exit 2; }; exit 0`
	out, errb, code := tend(t, "run", "-C", dir, "all", "--", command)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one host exited 2, one unreachable)\n%s%s", code, out, errb)
	}
	want := `---------------
web[01-02] (2)
---------------
same
(sensitive)
---------------
web03 (1)
---------------
other
----------------
web04 (1) exit 2
----------------
same
(sensitive)
--- stderr
bad

5 hosts: 3 exit 0 (web[01-03]), 1 exit 2 (web04), 1 unreachable (gone).
`
	if !strings.HasPrefix(out, want) {
		t.Errorf("output:\n%s\nwant it to start with:\n%s", out, want)
	}
	if strings.Contains(out+errb, "tok-3f9a1c77") {
		t.Errorf("the secret's value was printed:\n%s%s", out, errb)
	}
	if !strings.Contains(out, "  gone: unreachable: ") {
		t.Errorf("the unreachable host is not listed with why:\n%s", out)
	}

	// The journal: who, what, where, each host's status and digests.
	r := lastRun(t, dir)
	if r.Command != "run" || r.Target != "all" || r.Outcome != "failed" || r.User == "" || r.Finished.IsZero() || r.AdHoc == nil {
		t.Fatalf("journaled run: %+v", r)
	}
	if strings.Contains(r.AdHoc.Command, "tok-3f9a1c77") || !strings.Contains(r.AdHoc.Command, "(sensitive)") {
		t.Errorf("journaled command = %q, want the secret redacted", r.AdHoc.Command)
	}
	got := map[string]string{}
	digests := map[string]string{}
	for _, h := range r.Hosts {
		s := h.Outcome
		if h.Result != nil && h.Result.ExitStatus != nil {
			s += " " + string(rune('0'+*h.Result.ExitStatus))
			digests[h.Name] = h.Result.Stdout.Digest
		}
		got[h.Name] = s
	}
	wantHosts := map[string]string{"web01": "success 0", "web02": "success 0", "web03": "success 0", "web04": "failed 2", "gone": "unreachable"}
	if d := cmp.Diff(wantHosts, got); d != "" {
		t.Errorf("journaled hosts (-want +got):\n%s", d)
	}
	if !redact.IsKeyed(digests["web01"]) || digests["web01"] != digests["web02"] || digests["web01"] != digests["web04"] || digests["web01"] == digests["web03"] {
		t.Errorf("stdout digests: %v, want keyed, equal for equal outputs", digests)
	}
	raw, err := os.ReadFile(filepath.Join(journal.Dir(dir), r.ID+".journal"))
	if err != nil || bytes.Contains(raw, []byte("tok-3f9a1c77")) || bytes.Contains(raw, []byte("same\\n")) {
		t.Errorf("the journal holds output or the secret (%v):\n%s", err, raw)
	}

	// tend runs and tend show tell it.
	out, _, _ = tend(t, "runs", "-C", dir)
	if !strings.Contains(out, "run: case $H in web03) echo other;; *) echo …") {
		t.Errorf("tend runs:\n%s", out)
	}
	out, _, code = tend(t, "show", "-C", dir, r.ID)
	for _, s := range []string{"Run " + r.ID + ": run, failed", "command   case $H", "web[01-02] (2): exit 0", "web03 (1): exit 0", "web04 (1): exit 2", "gone: unreachable", "5 hosts: 3 exit 0, 1 exit 2, 1 unreachable."} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("tend show: exit %d, no %q in:\n%s", code, s, out)
		}
	}
}

// Hosts web01, web02 and web04 agree on stdout; web04's exit status and
// stderr set it apart, yet its stdout digest is theirs (checked above).

func TestRunJSON(t *testing.T) {
	withHostShell(t)
	t.Setenv("TEND_TEST_RUN_TOKEN", "tok-3f9a1c77")
	schema := uiSchema(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": runInventory, "id_none": "x\n"})
	args := []string{"run", "-C", dir, "--json", "all", "--", `echo "$H tok-3f9a1c77"; [ "$H" != web02 ]`}
	out, errb, code := tend(t, args...)
	if code != 1 || errb != "" {
		t.Fatalf("exit %d, want 1, and nothing on stderr\n%s%s", code, out, errb)
	}
	msgs := jsonLines(t, schema, args, out, code) // each line valid against the schema
	var kinds []string
	results := map[string]map[string]any{}
	var summary, outcome map[string]any
	for _, m := range msgs {
		kinds = append(kinds, m["type"].(string))
		switch m["type"] {
		case "command_result":
			results[m["host"].(string)] = m
		case "command_summary":
			summary = m
		case "outcome":
			outcome = m
		}
	}
	wantKinds := []string{"version", "run", "command_result", "command_result", "command_result", "command_result", "command_result", "command_summary", "outcome"}
	if d := cmp.Diff(wantKinds, kinds); d != "" {
		t.Errorf("message types (-want +got):\n%s", d)
	}
	if r := results["web01"]; r["stdout"] != "web01 (sensitive)\n" || r["exit_status"] != 0.0 || r["outcome"] != "success" {
		t.Errorf("web01: %v", r)
	}
	if r := results["web02"]; r["exit_status"] != 1.0 || r["outcome"] != "failed" {
		t.Errorf("web02: %v", r)
	}
	if r := results["gone"]; r["outcome"] != "unreachable" || r["exit_status"] != nil || r["error"] == "" {
		t.Errorf("gone: %v", r)
	}
	if d := cmp.Diff(map[string]any{"0": 3.0, "1": 1.0}, summary["exit_statuses"]); d != "" || summary["outcome"] != "failed" {
		t.Errorf("summary %v (-want +got exit statuses):\n%s", summary, d)
	}
	if d := cmp.Diff([]any{"gone"}, summary["unreachable"]); d != "" {
		t.Errorf("summary unreachable (-want +got):\n%s", d)
	}
	if outcome["command"] != "run" || outcome["result"] != "failed" || outcome["run_id"] != lastRun(t, dir).ID {
		t.Errorf("outcome: %v", outcome)
	}

	// Usage errors and refusals are diagnostics on stdout, with exit 2
	// and 1.
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "-C", dir, "--json", "all"}, ExitUsage},
		{[]string{"run", "-C", dir, "--json", "--become", "--confirm", "gone", "--", "true"}, ExitError},
		{[]string{"run", "-C", dir, "--json", "nothing", "--", "true"}, ExitError},
	} {
		out, errb, code := tend(t, c.args...)
		if code != c.code || errb != "" {
			t.Errorf("%v: exit %d, want %d, nothing on stderr\n%s%s", c.args, code, c.code, out, errb)
		}
		if got := types(jsonLines(t, schema, c.args, out, code)); got["diagnostic"] != 1 {
			t.Errorf("%v: messages %v, want one diagnostic", c.args, got)
		}
	}
}

func TestRunNoGroupScriptStdinTimeout(t *testing.T) {
	withHostShell(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.hcl": "host \"a1\" { transport = \"local\" }\nhost \"a10\" { transport = \"local\" }\n",
		"check.sh":      "read line\necho \"$H read $line\"\necho \"$H warns\" >&2\n",
	})
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"run", "-C", dir, "--no-group", "--stdin", "--script", filepath.Join(dir, "check.sh"), "all"},
		IO{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, s := range []string{"a1:  a1 read hello\n", "a10: a10 read hello\n", "2 hosts: 2 exit 0 (a[1,10])."} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("no %q in stdout:\n%s", s, out.String())
		}
	}
	for _, s := range []string{"a1:  a1 warns\n", "a10: a10 warns\n"} {
		if !strings.Contains(errb.String(), s) {
			t.Errorf("no %q in stderr:\n%s", s, errb.String())
		}
	}
	r := lastRun(t, dir)
	if r.AdHoc.Script != filepath.Join(dir, "check.sh") || len(r.AdHoc.ScriptSHA256) != 64 || !r.AdHoc.Stdin || r.AdHoc.Command != "" {
		t.Errorf("journaled: %+v", r.AdHoc)
	}

	// Without --stdin the command reads nothing; --timeout stops a host.
	start := time.Now()
	o, e, code := tend(t, "run", "-C", dir, "--timeout", "300ms", "all", "--", `read x && echo "got $x"; [ "$H" = a10 ] && sleep 30; echo done`)
	if code != 1 || time.Since(start) > 20*time.Second {
		t.Fatalf("exit %d after %s, want 1 at the timeout\n%s%s", code, time.Since(start), o, e)
	}
	for _, s := range []string{"a1 (1)\n---------------\ndone\n", "1 exit 0 (a1), 1 timed out (a10)", "a10: timed out: timed out after 300ms"} {
		if !strings.Contains(o, s) {
			t.Errorf("no %q in:\n%s", s, o)
		}
	}
}

func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": "host \"a1\" { transport = \"local\" }\n", "s.sh": "true\n"})
	for _, args := range [][]string{
		{"run"},
		{"run", "-C", dir},
		{"run", "-C", dir, "all"},
		{"run", "-C", dir, "all", "--", "  "},
		{"run", "-C", dir, "--", "uptime"},
		{"run", "-C", dir, "a1", "a2", "--", "uptime"},
		{"run", "-C", dir, "all", "--script", filepath.Join(dir, "s.sh"), "--", "uptime"},
		{"run", "-C", dir, "all", "--bogus", "--", "uptime"},
		{"run", "-C", dir, "all", "--timeout", "-1s", "--", "uptime"},
		{"run", "-C", dir, "all", "--become-user", "app", "--", "uptime"},
		{"run", "-C", dir, "all", "--confirm-above", "-3", "--", "uptime"},
		{"run", "-C", dir, "--target", "all", "a1", "--", "uptime"},
		{"run", "-C", dir, "--var", "x=1", "a1", "--", "uptime"},
	} {
		out, errb, code := tend(t, args...)
		if code != ExitUsage || !strings.Contains(out+errb, "Usage: tend run PATTERN") {
			t.Errorf("tend %s: exit %d, want 2 with the usage\n%s%s", strings.Join(args, " "), code, out, errb)
		}
	}
	if _, err := os.Stat(journal.Dir(dir)); !os.IsNotExist(err) {
		t.Errorf("a usage error journaled a run: %v", err)
	}
	t.Setenv(confirmAboveEnv, "many")
	if _, errb, code := tend(t, "run", "-C", dir, "all", "--", "true"); code != ExitUsage || !strings.Contains(errb, confirmAboveEnv) {
		t.Errorf("a bad %s: exit %d\n%s", confirmAboveEnv, code, errb)
	}
}

func TestRunConfirmAbove(t *testing.T) {
	dir := t.TempDir()
	// Root logins over ssh that cannot connect: the question comes
	// before any connection.
	writeFiles(t, dir, map[string]string{"id_none": "x\n", "inventory.hcl": `
host "r1" {
  address = "127.0.0.1"
  port = 1
  user = "root"
  identity_file = "id_none"
}
host "r2" {
  address = "127.0.0.1"
  port = 1
  user = "root"
  identity_file = "id_none"
}
host "u1" {
  address = "127.0.0.1"
  port = 1
  user = "app"
  identity_file = "id_none"
}
`})
	_, errb, code := tend(t, "run", "-C", dir, "--confirm-above", "1", "all", "--", "true")
	if code != 1 || !strings.Contains(errb, "refusing to run as root on more than 1 hosts without confirmation") {
		t.Errorf("--confirm-above 1 with 2 root hosts: exit %d\n%s", code, errb)
	}
	if _, err := os.Stat(journal.Dir(dir)); !os.IsNotExist(err) {
		t.Errorf("a refused run was journaled: %v", err)
	}
	t.Setenv(confirmAboveEnv, "1")
	if _, errb, code := tend(t, "run", "-C", dir, "all", "--", "true"); code != 1 || !strings.Contains(errb, "refusing") {
		t.Errorf("%s=1: exit %d\n%s", confirmAboveEnv, code, errb)
	}
	// At the threshold, or with -y, it runs (and these hosts are
	// unreachable: exit 1, journaled).
	for _, args := range [][]string{{"--confirm-above", "2"}, {"-y"}, {"--confirm", "u1"}} {
		target := "all"
		if args[len(args)-1] == "u1" {
			target, args = "u1", args[:len(args)-1]
		}
		a := append(append([]string{"run", "-C", dir}, args...), target, "--", "true")
		out, errb, code := tend(t, a...)
		if code != 1 || strings.Contains(errb, "refusing") || !strings.Contains(out, "unreachable") {
			t.Errorf("tend %s: exit %d\n%s%s", strings.Join(a, " "), code, out, errb)
		}
	}
	// --confirm asks for one root host.
	if _, errb, code := tend(t, "run", "-C", dir, "--confirm", "r1", "--", "true"); code != 1 || !strings.Contains(errb, "refusing") {
		t.Errorf("--confirm on r1: exit %d\n%s", code, errb)
	}
}

func TestRunsAsRoot(t *testing.T) {
	tests := map[string]struct {
		h    inventory.Host
		want bool
	}{
		"root login":           {inventory.Host{Transport: "ssh", User: "root"}, true},
		"app login":            {inventory.Host{Transport: "ssh", User: "app"}, false},
		"become":               {inventory.Host{Transport: "ssh", User: "app", Become: true}, true},
		"become root":          {inventory.Host{Transport: "ssh", User: "app", Become: true, BecomeUser: "root"}, true},
		"become another":       {inventory.Host{Transport: "ssh", User: "root", Become: true, BecomeUser: "postgres"}, false},
		"winrm":                {inventory.Host{Transport: "winrm", User: "ops"}, true},
		"local, not become":    {inventory.Host{Transport: "local"}, os.Geteuid() == 0},
		"local ignores become": {inventory.Host{Transport: "local", Become: true}, os.Geteuid() == 0},
	}
	for name, tc := range tests {
		if got := runsAsRoot(&tc.h); got != tc.want {
			t.Errorf("%s: runsAsRoot = %v, want %v", name, got, tc.want)
		}
	}
}

// TestRunWinRM: on WinRM hosts (simulated: a WS-Management server whose
// PowerShell is played in Go) the command is the PowerShell script tend
// sends, as given; answers fold and exit statuses count as on POSIX
// hosts, and the WinRM password never shows.
func TestRunWinRM(t *testing.T) {
	t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
	const command = "Get-Service W3SVC | Select-Object -ExpandProperty Status"
	respond := func(status int, out string) func(winrmtest.Script) winrmtest.Answer {
		return func(s winrmtest.Script) winrmtest.Answer {
			if s.Text != command {
				return winrmtest.Answer{Status: 99, Stderr: "unexpected script: " + s.Text}
			}
			return winrmtest.Answer{Status: status, Stdout: out + "\r\n" + winrmPassword + "\r\n"}
		}
	}
	hosts := []*winrmtest.Host{
		winrmtest.Start(t, "ops", winrmPassword, respond(0, "Running")),
		winrmtest.Start(t, "ops", winrmPassword, respond(0, "Running")),
		winrmtest.Start(t, "ops", winrmPassword, respond(3, "Stopped")),
	}
	var inv strings.Builder
	for i, h := range hosts {
		inv.WriteString(strings.Replace(windowsInventory(h.Port()), `host "win1"`, fmt.Sprintf(`host "win%d"`, i+1), 1))
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.hcl": inv.String()})
	out, errb, code := tend(t, "run", "-C", dir, "-y", "all", "--", command)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errb)
	}
	want := "---------------\nwin[1-2] (2)\n---------------\nRunning\r\n(sensitive)\r\n" +
		"---------------\nwin3 (1) exit 3\n---------------\nStopped\r\n(sensitive)\r\n\n" +
		"3 hosts: 2 exit 0 (win[1-2]), 1 exit 3 (win3).\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want it to start with %q", out, want)
	}
	if strings.Contains(out+errb, winrmPassword) {
		t.Errorf("the WinRM password was printed")
	}
	for i, h := range hosts {
		if s := h.Scripts(); len(s) != 1 || s[0].Text != command || len(s[0].Stdin) != 0 {
			t.Errorf("win%d got %d scripts: %+v", i+1, len(s), s)
		}
	}
	// WinRM logins are administrators: --confirm counts them as root.
	if _, errb, code := tend(t, "run", "-C", dir, "--confirm", "all", "--", command); code != 1 || !strings.Contains(errb, "refusing to run as root") {
		t.Errorf("--confirm on WinRM hosts: exit %d\n%s", code, errb)
	}
}

// TestRunInterrupted: the first interrupt starts no more hosts and lets
// the one in flight finish; the second stops it at once. Both are
// journaled as such.
func TestRunInterrupted(t *testing.T) {
	withHostShell(t)
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n, " interrupts"), func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "started")
			writeFiles(t, dir, map[string]string{"inventory.hcl": "host \"h1\" { transport = \"local\" }\nhost \"h2\" { transport = \"local\" }\nhost \"h3\" { transport = \"local\" }\n"})
			sigs := make(chan os.Signal, 4)
			go func() {
				for !exists(marker) {
					time.Sleep(10 * time.Millisecond)
				}
				for i := 0; i < n; i++ {
					sigs <- syscall.SIGINT
					time.Sleep(100 * time.Millisecond)
				}
			}()
			var out, errb bytes.Buffer
			start := time.Now()
			code := Run(context.Background(), []string{"run", "-C", dir, "--parallel", "1", "all", "--", "touch " + shell.Quote(marker) + "; sleep 1.5; echo done"},
				IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Signals: sigs})
			if code != 1 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
			got := map[string]string{}
			for _, h := range lastRun(t, dir).Hosts {
				got[h.Name] = h.Outcome
			}
			want := map[string]string{"h1": adhocSuccess, "h2": adhocNotStarted, "h3": adhocNotStarted}
			summary := "3 hosts: 1 exit 0 (h1), 2 not started (h[2-3])."
			if n == 2 {
				want["h1"], summary = adhocInterrupted, "3 hosts: 1 interrupted (h1), 2 not started (h[2-3])."
				if d := time.Since(start); d > 1400*time.Millisecond {
					t.Errorf("the second interrupt took %s to stop the command", d)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("journaled outcomes (-want +got):\n%s", d)
			}
			if !strings.Contains(out.String(), summary) {
				t.Errorf("no %q in:\n%s", summary, out.String())
			}
		})
	}
}
