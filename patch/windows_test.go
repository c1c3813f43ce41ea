package patch

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The Chocolatey answers below are written from Chocolatey's
// documentation and source (the --limit-output formats of choco outdated
// and its enhanced exit codes), not recorded from a real Chocolatey: no
// Windows runs here.

// outdated is choco outdated --limit-output: a pinned package (listed
// when --ignore-pinned is not honoured), a package no source offers
// (current version repeated), a NuGet notice, and two upgrades.
const outdated = `[NuGet] No Authorization header detected
git|2.42.0|2.47.1|false
notepadplusplus|8.6.2|8.7.4|true
legacy-tool|1.0.0|1.0.0|false
7zip|23.1.0|24.9.0|false
`

func TestParseChocoOutdated(t *testing.T) {
	want := []Upgrade{{Name: "7zip", From: "23.1.0", To: "24.9.0"}, {Name: "git", From: "2.42.0", To: "2.47.1"}}
	for _, status := range []int{2, 0} {
		got, err := parseChocoOutdated([]byte(strings.ReplaceAll(outdated, "\n", "\r\n")), status)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("exit %d (-want +got):\n%s", status, d)
		}
	}
	_, err := parseChocoOutdated([]byte("Chocolatey v2.4.1\r\nUnable to load the service index for source https://repo.corp.example/v3/index.json.\r\n"), 1)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "Unable to load the service index") {
		t.Errorf("failed outdated: %v", err)
	}
}

// fakeHost answers each script by what it runs, with Chocolatey's answers.
type fakeHost struct {
	scripts []string
	answer  func(script string) *transport.Result
}

func (f *fakeHost) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	f.scripts = append(f.scripts, cmd.Script)
	return f.answer(cmd.Script), nil
}
func (f *fakeHost) Close() error { return nil }

// TestChocolateyManager: pending, upgrade (exit 3010: success, reboot
// asked), versions after, the reboot check, with the scripts pinned.
func TestChocolateyManager(t *testing.T) {
	for name, c := range map[string]struct {
		upgradeStatus int
		upgradeOut    string
		versions      string
		registry      string
		done          []Upgrade
		err           string
		reboot        bool
	}{
		"reboot asked by an installer": {upgradeStatus: 3010, upgradeOut: "git v2.47.1\r\n", versions: "7zip|24.9.0\r\ngit|2.47.1\r\n", registry: "false",
			done: []Upgrade{{Name: "7zip", From: "23.1.0", To: "24.9.0"}, {Name: "git", From: "2.42.0", To: "2.47.1"}}, reboot: true},
		"no reboot": {upgradeStatus: 0, versions: "7zip|24.9.0\r\ngit|2.47.1\r\n", registry: "false",
			done: []Upgrade{{Name: "7zip", From: "23.1.0", To: "24.9.0"}, {Name: "git", From: "2.42.0", To: "2.47.1"}}},
		"reboot pending in the registry": {upgradeStatus: 0, versions: "7zip|24.9.0\r\ngit|2.47.1\r\n", registry: "true",
			done: []Upgrade{{Name: "7zip", From: "23.1.0", To: "24.9.0"}, {Name: "git", From: "2.42.0", To: "2.47.1"}}, reboot: true},
		"one failed": {upgradeStatus: 1, upgradeOut: "7zip not upgraded. An error occurred during installation:\r\n Installer failed with exit code 1603\r\n", versions: "7zip|23.1.0\r\ngit|2.47.1\r\n", registry: "false",
			done: []Upgrade{{Name: "git", From: "2.42.0", To: "2.47.1"}}, err: "choco upgrade failed (exit status 1): 7zip not upgraded. An error occurred during installation:\n Installer failed with exit code 1603"},
		"reboot pending before": {upgradeStatus: 350, err: "exitOnRebootDetected"},
	} {
		t.Run(name, func(t *testing.T) {
			h := &fakeHost{answer: func(s string) *transport.Result {
				switch {
				case strings.Contains(s, "') outdated "):
					return &transport.Result{Stdout: []byte(strings.ReplaceAll(outdated, "\n", "\r\n")), ExitStatus: 2}
				case strings.Contains(s, "') upgrade "):
					return &transport.Result{Stdout: []byte(c.upgradeOut), ExitStatus: c.upgradeStatus}
				case strings.Contains(s, "metadata.version"):
					return &transport.Result{Stdout: []byte(c.versions)}
				case strings.Contains(s, "RebootPending"):
					return &transport.Result{Stdout: []byte(c.registry)}
				}
				return &transport.Result{Stderr: []byte("unexpected script"), ExitStatus: 1}
			}}
			mgr, err := For("chocolatey")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			pending, err := mgr.Pending(ctx, h, false)
			if err != nil {
				t.Fatal(err)
			}
			done, err := mgr.Upgrade(ctx, h, pending, false)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("upgrade error %v, want one with %q", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.done, done); d != "" {
				t.Errorf("upgraded (-want +got):\n%s", d)
			}
			if c.err == "" {
				reboot, err := mgr.RebootRequired(ctx, h)
				if err != nil || reboot != c.reboot {
					t.Errorf("reboot required = %v, %v; want %v", reboot, err, c.reboot)
				}
			}
			if name == "reboot pending in the registry" {
				var all strings.Builder
				for _, s := range h.scripts {
					all.WriteString("# script\n" + s)
				}
				golden(t, filepath.Join("testdata", "windows", "chocolatey.ps1"), all.String())
			}
		})
	}
	if _, err := (&Chocolatey{}).Pending(context.Background(), &fakeHost{}, true); err == nil || !strings.Contains(err.Error(), "no security advisories") {
		t.Errorf("--security-only: %v", err)
	}
	if m, err := For("msi"); err != nil {
		t.Errorf("a Windows host without Chocolatey: %v", err)
	} else if _, ok := m.(*Winget); !ok {
		t.Errorf("a Windows host without Chocolatey is patched by %T, want winget", m)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-golden +got; go test -update rewrites it):\n%s", path, d)
	}
}
