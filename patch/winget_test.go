package patch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/transport"
)

// The winget tables in testdata/winget are written from winget's source
// (its TableOutput: columns padded to the widest cell in characters, a
// rule of dashes, cells cut with "…" or, in older versions, "..." to fit
// 120 characters when there is no console, as under WinRM) and its
// documented return codes, not recorded from a real winget: no Windows
// runs here.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "winget", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWingetTable(t *testing.T) {
	got, err := parseWingetTable(readFixture(t, "upgrade.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []wingetUpgrade{
		{Upgrade{Name: "9N0DX20HK701", From: "1.20.11381.0", To: "1.21.2911.0"}, "msstore"},
		{Upgrade{Name: "Git.Git", From: "2.42.0", To: "2.47.1"}, "winget"},
		{Upgrade{Name: "Microsoft.VCRedist.2015+.x64", From: "14.38.33130.0", To: "14.42.34433.0"}, "winget"},
		{Upgrade{Name: "Notepad++.Notepad++", From: "< 8.6.2", To: "8.7.4"}, "winget"},
		{Upgrade{Name: "Tencent.WeChat", From: "3.9.10.19", To: "3.9.12.17"}, "winget"},
	}
	// Discord.Discord, in the table of packages needing explicit
	// targeting, is not among them.
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	_, err = parseWingetTable(readFixture(t, "upgrade-cut.txt"), 0)
	if err == nil || !strings.Contains(err.Error(), "cut the id, version or source of 1 package(s)") || !strings.Contains(err.Error(), "Contoso.EnterpriseEndpointProtection.Man...") {
		t.Errorf("a cut id: %v", err)
	}

	for _, status := range []int{0, wingetNoPackages, wingetNoUpdate} {
		if got, err := parseWingetTable([]byte("No installed package found matching input criteria.\r\n"), status); err != nil || got != nil {
			t.Errorf("nothing to upgrade, exit %d: %v %v", status, got, err)
		}
	}
	_, err = parseWingetTable([]byte("Failed when searching source: winget\r\nAn unexpected error occurred while executing the command:\r\n0x8a15000f : Data required by the source is missing\r\n"), -1978335217)
	if err == nil || !strings.Contains(err.Error(), "exit status -1978335217, 0x8a15000f") || !strings.Contains(err.Error(), "Data required by the source is missing") {
		t.Errorf("a failed listing: %v", err)
	}
	_, err = parseWingetTable([]byte("Name Id Version Source\r\n----------------------\r\nGit Git.Git 2.42.0 winget\r\n"), 0)
	if err == nil || !strings.Contains(err.Error(), "has 4 columns, want 5") {
		t.Errorf("a table of another shape: %v", err)
	}
}

func TestParseWingetRun(t *testing.T) {
	r, err := parseWingetRun([]byte("Found Git [Git.Git]\r\n"+wingetExitMark+"2316632329\r\n"+wingetExitMark+"0\r\n"), 2)
	if err != nil {
		t.Fatal(err)
	}
	// An HRESULT read as unsigned is winget's signed exit status.
	if r.status[0] != wingetRebootToFinish || r.status[1] != 0 || string(r.out[0]) != "Found Git [Git.Git]\n" {
		t.Errorf("%v %q", r.status, r.out)
	}
	if _, err := parseWingetRun([]byte(wingetExitMark+"0\r\n"), 2); err == nil || !strings.Contains(err.Error(), "ran 1 time(s) of 2") {
		t.Errorf("a script cut short: %v", err)
	}
	if _, err := parseWingetRun([]byte(wingetMissingMark+"\r\n"), 1); err == nil || !strings.Contains(err.Error(), "neither choco.exe nor winget.exe") {
		t.Errorf("no winget: %v", err)
	}
}

// TestWingetManager: pending, the upgrades (one reboots to finish, one
// fails, one is no longer applicable), the listing after, the reboot
// check, with the scripts pinned.
func TestWingetManager(t *testing.T) {
	listings, notepadOK := 0, false
	h := &fakeHost{answer: func(s string) *transport.Result {
		switch {
		case strings.Contains(s, "& $wg upgrade --accept-source-agreements --disable-interactivity "):
			listings++
			table := readFixture(t, "upgrade.txt")
			if listings > 1 {
				table = readFixture(t, "upgrade-after.txt")
			}
			return &transport.Result{Stdout: append(table, []byte(wingetExitMark+"0\r\n")...)}
		case strings.Contains(s, "& $wg upgrade --id "):
			var out strings.Builder
			for _, l := range strings.Split(s, "\n") {
				id, _, ok := strings.Cut(strings.TrimPrefix(l, "& $wg upgrade --id '"), "'")
				if !ok || !strings.HasPrefix(l, "& $wg upgrade --id ") {
					continue
				}
				status, said := 0, "Successfully installed"
				switch id {
				case "Git.Git":
					status = wingetRebootToFinish
				case "Notepad++.Notepad++":
					if notepadOK {
						break
					}
					status, said = -1978335226, "Installer failed with exit code: 1603"
				case "Tencent.WeChat":
					status, said = wingetNoUpdate, "No applicable update found."
				}
				fmt.Fprintf(&out, "Found %s\r\n%s\r\n%s%d\r\n", id, said, wingetExitMark, status)
			}
			return &transport.Result{Stdout: []byte(out.String())}
		case strings.Contains(s, "RebootPending"):
			return &transport.Result{Stdout: []byte("false")}
		}
		return &transport.Result{Stderr: []byte("unexpected script"), ExitStatus: 1}
	}}
	mgr, err := For("msi")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pending, err := mgr.Pending(ctx, h, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 5 {
		t.Fatalf("pending: %v", pending)
	}
	done, err := mgr.Upgrade(ctx, h, pending, false)
	if err == nil || !strings.Contains(err.Error(), "Notepad++.Notepad++: winget upgrade failed (exit status -1978335226, 0x8a150006): Found Notepad++.Notepad++\nInstaller failed with exit code: 1603") {
		t.Errorf("upgrade error: %v", err)
	}
	want := []Upgrade{
		{Name: "9N0DX20HK701", From: "1.20.11381.0", To: "1.21.2911.0"},
		{Name: "Git.Git", From: "2.42.0", To: "2.47.1"},
		{Name: "Microsoft.VCRedist.2015+.x64", From: "14.38.33130.0", To: "14.42.34433.0"},
	}
	if d := cmp.Diff(want, done); d != "" {
		t.Errorf("upgraded (-want +got):\n%s", d)
	}
	if reboot, err := mgr.RebootRequired(ctx, h); err != nil || !reboot {
		t.Errorf("reboot required = %v, %v; want true (Git.Git exited 0x8A150109)", reboot, err)
	}
	if listings != 2 {
		t.Errorf("%d listings, want 2 (before and after)", listings)
	}
	var all strings.Builder
	for _, s := range h.scripts {
		all.WriteString("# script\n" + s)
	}
	golden(t, filepath.Join("testdata", "windows", "winget.ps1"), all.String())

	// A package whose upgrade succeeded but which is still offered from
	// its old version is a failure, not an upgrade.
	w := &Winget{}
	notepadOK = true
	done, err = w.Upgrade(ctx, h, []Upgrade{{Name: "Notepad++.Notepad++", From: "< 8.6.2", To: "8.7.4"}}, false)
	if err == nil || !strings.Contains(err.Error(), "Notepad++.Notepad++: winget upgrade succeeded but Notepad++.Notepad++ is still at < 8.6.2") || len(done) != 0 {
		t.Errorf("an upgrade that changed nothing: %v, %v", done, err)
	}

	if _, err := mgr.Pending(ctx, h, true); err == nil || !strings.Contains(err.Error(), "no security advisories") {
		t.Errorf("--security-only: %v", err)
	}
}
