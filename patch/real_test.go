//go:build linux

package patch

// The managers against the real dnf, zypper and pacman, pointed at
// installroots on the controller (Root), with repositories from
// integration/testrepo: tend-hello 1.0 → 2.0 (2.0 pulls in tend-dep) as a
// security advisory, tend-other 1.0 → 2.0 as a plain update. Like every
// end-to-end test they run with TEND_LAB=1 only, as root, and fail
// without the tools (integration/scripts/pkg-deps.sh installs them).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
	"github.com/tendhq/tend/transport/local"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	lab.Required(t)
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatal("needs " + strings.Join(missing, ", ") + " (run integration/scripts/pkg-deps.sh as root)")
	}
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

var (
	hello1 = testrepo.Pkg{Name: "tend-hello", Version: "1.0"}
	hello2 = testrepo.Pkg{Name: "tend-hello", Version: "2.0", Depends: []string{"tend-dep"}}
	dep    = testrepo.Pkg{Name: "tend-dep", Version: "1.0"}
	other1 = testrepo.Pkg{Name: "tend-other", Version: "1.0"}
	other2 = testrepo.Pkg{Name: "tend-other", Version: "2.0"}
	base   = testrepo.Pkg{Name: "tend-base", Version: "1.0"}
)

// patchTimeline checks a manager on a root where tend-hello 1.0 and
// tend-other 1.0 are installed and the repository offers 2.0 of both.
func patchTimeline(t *testing.T, m Manager, security bool) {
	ctx := context.Background()
	tr := local.New()
	both := []Upgrade{
		{Name: "tend-hello", From: "1.0-1", To: "2.0-1"},
		{Name: "tend-other", From: "1.0-1", To: "2.0-1"},
	}
	pending, err := m.Pending(ctx, tr, false)
	if err != nil {
		t.Fatal(err)
	}
	// A dry run may also list the new dependency; the upgrades are what
	// matter.
	if diff := cmp.Diff(both, withoutNew(pending)); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	if security {
		sec, err := m.Pending(ctx, tr, true)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(both[:1], withoutNew(sec)); diff != "" {
			t.Errorf("pending security updates (-want +got):\n%s", diff)
		}
		done, err := m.Upgrade(ctx, tr, sec, true)
		if err != nil {
			t.Fatal(err)
		}
		want := []Upgrade{{Name: "tend-dep", To: "1.0-1"}, both[0]}
		if diff := cmp.Diff(want, done); diff != "" {
			t.Errorf("security upgrade (-want +got):\n%s", diff)
		}
		if pending, err = m.Pending(ctx, tr, false); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(both[1:], withoutNew(pending)); diff != "" {
			t.Errorf("pending after the security upgrade (-want +got):\n%s", diff)
		}
	}
	done, err := m.Upgrade(ctx, tr, pending, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Upgrade{{Name: "tend-dep", To: "1.0-1"}, both[0], both[1]}
	if security {
		want = both[1:]
	}
	if diff := cmp.Diff(want, done); diff != "" {
		t.Errorf("upgrade (-want +got):\n%s", diff)
	}
	if pending, err = m.Pending(ctx, tr, false); err != nil || len(pending) != 0 {
		t.Errorf("pending after the upgrade: %v %v, want none", pending, err)
	}
}

func withoutNew(ups []Upgrade) []Upgrade {
	var out []Upgrade
	for _, u := range ups {
		if u.From != "" {
			out = append(out, u)
		}
	}
	return out
}

func TestDnfPatch(t *testing.T) {
	needTools(t, "dnf", "rpm", "rpmbuild", "createrepo_c", "modifyrepo_c")
	repo, root := t.TempDir(), t.TempDir()
	if err := testrepo.BuildRPM(repo, hello1, hello2, dep, other1, other2); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.AddSecurityAdvisory(repo, hello2); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.WriteYumRepo(root, repo); err != nil {
		t.Fatal(err)
	}
	sh(t, "dnf -q -y --installroot="+root+" install tend-hello-1.0 tend-other-1.0 2>&1 | grep -v 'release version' || true")
	patchTimeline(t, Dnf{Bin: "dnf", Root: root}, true)
}

func TestZypperPatch(t *testing.T) {
	needTools(t, "zypper", "rpm", "rpmbuild", "createrepo_c", "modifyrepo_c")
	repo, root := t.TempDir(), t.TempDir()
	if err := testrepo.BuildRPM(repo, hello1, hello2, dep, other1, other2, base); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.AddSecurityAdvisory(repo, hello2); err != nil {
		t.Fatal(err)
	}
	if err := testrepo.WriteZypperRepo(root, repo); err != nil {
		t.Fatal(err)
	}
	// tend-base: zypper with Debian's rpm cannot cache an empty database
	// (see resources/pkg's zypper test).
	sh(t, "zypper -n -q --root "+root+" refresh && zypper -n -q --root "+root+" install tend-base tend-hello-1.0 tend-other-1.0")
	patchTimeline(t, Zypper{Root: root}, true)
}

// TestPacmanPatch: pacman repositories offer one version: 1.0 first, then
// 2.0 replaces it, as a distribution's would. --security-only is refused.
func TestPacmanPatch(t *testing.T) {
	needTools(t, "pacman")
	repo, root := t.TempDir(), t.TempDir()
	if err := testrepo.WritePacmanConf(root, repo); err != nil {
		t.Fatal(err)
	}
	m := Pacman{Root: root}
	if err := testrepo.BuildPacman(repo, hello1, other1); err != nil {
		t.Fatal(err)
	}
	sh(t, m.cmd()+" -Sy tend-hello tend-other >/dev/null")
	if err := testrepo.BuildPacman(repo, hello2, dep, other2); err != nil {
		t.Fatal(err)
	}
	// pacman -Sy downloads a database only when it is newer than the
	// copy it has (to the second): the rebuild may fall in the same
	// second as the first sync, which no real mirror update does.
	later := time.Now().Add(5 * time.Second)
	for _, f := range []string{"tend.db", "tend.db.tar.gz"} {
		if err := os.Chtimes(filepath.Join(repo, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	patchTimeline(t, m, false)
	if _, err := m.Pending(context.Background(), local.New(), true); err == nil || !strings.Contains(err.Error(), "no security advisories") {
		t.Errorf("security-only on pacman: %v, want a refusal", err)
	}
}

// TestRebootCheck: exit 1 means a reboot is required, 0 not, anything
// else is an error that says so.
func TestRebootCheck(t *testing.T) {
	ctx := context.Background()
	for script, want := range map[string]bool{"exit 0": false, "exit 1": true} {
		if got, err := rebootCheck(ctx, local.New(), script); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", script, got, err, want)
		}
	}
	if _, err := rebootCheck(ctx, local.New(), "echo broken >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "exit 3: broken") {
		t.Errorf("exit 3: %v, want an error", err)
	}
}

// TestParseZypperSummary: a real zypper 1.14 -x update --dry-run summary.
func TestParseZypperSummary(t *testing.T) {
	out := `<?xml version='1.0'?>
<stream>
<message type="info">Loading repository data...</message>
<install-summary download-size="12260" space-usage-diff="4" packages-to-change="2">
<to-upgrade>
<solvable type="package" name="tend-hello" edition="2.0-1" arch="noarch" edition-old="1.0-1" arch-old="noarch" summary="tend test package">
<description>Tiny package.</description></solvable>
</to-upgrade>
<to-install>
<solvable type="package" name="tend-dep" edition="1.0-1" arch="noarch" summary="tend test package">
<description>Tiny package.</description></solvable>
<solvable type="patch" name="TEND-SA-0001" edition="1" arch="noarch" summary="x"/>
</to-install>
</install-summary>
</stream>`
	got, err := parseZypperSummary([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Upgrade{{Name: "tend-dep", To: "1.0-1"}, {Name: "tend-hello", From: "1.0-1", To: "2.0-1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseZypperSummary([]byte(`<stream><message type="error">Repository 'tend' is invalid.</message></stream>`)); err == nil || !strings.Contains(err.Error(), "Repository 'tend' is invalid.") {
		t.Errorf("error message: %v", err)
	}
}
