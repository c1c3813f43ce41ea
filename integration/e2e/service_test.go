package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/resources/service"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

// labConn connects tend's SSH transport to lab host i as root, for
// contract tests of one type at a time.
func labConn(t *testing.T, l *lab.Lab, i int) *resources.Host {
	t.Helper()
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, lab.InventoryHosts(i)); err != nil {
		t.Fatal(err)
	}
	in, diags := inventory.Load([]string{inv}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tr, err := ssh.Dial(context.Background(), in.Hosts()[0], ssh.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &resources.Host{Name: l.Host(i).Name, T: tr, RunID: "contract", BackupDir: "/var/lib/tend/backup/contract"}
}

// mustExec runs a command inside lab host i.
func mustExec(t *testing.T, l *lab.Lab, i int, cmd string) string {
	t.Helper()
	out, err := l.Exec(i, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// testUnit is a systemd service the tests install: it logs every start
// and reload to /var/log/tend-e2e.log, so restarts can be counted.
const testUnit = `[Unit]
Description=tend e2e test service

[Service]
ExecStartPre=/bin/sh -c 'echo start >> /var/log/tend-e2e.log'
ExecStart=/bin/sleep infinity
ExecReload=/bin/sh -c 'echo reload >> /var/log/tend-e2e.log'

[Install]
WantedBy=multi-user.target
`

// installTestUnit plants testUnit (stopped, disabled) on lab host i.
func installTestUnit(t *testing.T, l *lab.Lab, i int) {
	t.Helper()
	write(t, filepath.Join(l.Host(i).Root, "etc/systemd/system/tend-e2e.service"), testUnit)
	mustExec(t, l, i, "systemctl daemon-reload")
}

// startLog returns the lines of the test unit's log.
func startLog(t *testing.T, l *lab.Lab, i int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Host(i).Root, "var/log/tend-e2e.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestServiceContractSystemd: the idempotence contract for service on a
// systemd host, over SSH: stop, start, disable, enable, both at once, a
// hand change, an enabled-runtime unit restored as such; and plan errors
// for what cannot be managed.
func TestServiceContractSystemd(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "svcsd"})
	h := labConn(t, l, 1)
	installTestUnit(t, l, 1)
	svc := service.Service{}
	s, b := cty.StringVal, cty.BoolVal
	cron := func(attrs map[string]cty.Value) map[string]cty.Value {
		attrs["name"] = s("cron")
		return attrs
	}
	resourcetest.Run(t, h.T, h, nil, []resourcetest.Step{
		{Name: "stop", Type: svc, Config: cron(map[string]cty.Value{"running": b(false)}), Want: plan.Update},
		{Name: "stopped no-op", Type: svc, Config: cron(map[string]cty.Value{"running": b(false)}), Want: plan.NoOp},
		{Name: "start", Type: svc, Config: cron(map[string]cty.Value{"running": b(true)}), Want: plan.Update},
		{Name: "disable", Type: svc, Config: cron(map[string]cty.Value{"enabled": b(false)}), Want: plan.Update},
		{Name: "enable", Type: svc, Config: cron(map[string]cty.Value{"enabled": b(true), "provider": s("systemd")}), Want: plan.Update},
		{Name: "stop and disable", Type: svc, Config: cron(map[string]cty.Value{"running": b(false), "enabled": b(false)}), Want: plan.Update},
		{Name: "start and enable", Type: svc, Config: cron(map[string]cty.Value{"running": b(true), "enabled": b(true)}), Want: plan.Update},
		{Name: "running no-op", Type: svc, Config: cron(map[string]cty.Value{"running": b(true), "enabled": b(true)}), Want: plan.NoOp},
		{Name: "stopped by hand", Type: svc, Setup: "systemctl stop cron", Config: cron(map[string]cty.Value{"running": b(true)}), Want: plan.Update},
		{Name: "unit suffix", Type: svc, Config: map[string]cty.Value{"name": s("tend-e2e.service"), "running": b(true)}, Want: plan.Update},
		{Name: "enabled-runtime is restored as such", Type: svc, Setup: "systemctl enable --runtime --quiet tend-e2e",
			Config: map[string]cty.Value{"name": s("tend-e2e"), "enabled": b(false)}, Want: plan.Update},
	})
	// (The contract's revert check compares the pre-state's fingerprint,
	// which includes systemd's UnitFileState: enabled-runtime must come
	// back as enabled-runtime, not enabled.)

	// What cannot be managed is a plan-time error that says why.
	mustExec(t, l, 1, "systemctl mask --quiet tend-masked.service")
	for _, tc := range []struct {
		cfg  map[string]cty.Value
		want string
	}{
		{map[string]cty.Value{"name": s("no-such-thing"), "running": b(true)}, "service no-such-thing not found: systemd has no unit no-such-thing.service"},
		{map[string]cty.Value{"name": s("tend-masked"), "running": b(true)}, "is masked"},
		{map[string]cty.Value{"name": s("systemd-journald"), "enabled": b(true)}, "is static"},
	} {
		cfg := resourcetest.Object(svc, tc.cfg)
		_, err := readOne(h.T, svc, cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: read error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// readOne probes one resource and returns Read's result.
func readOne(tr transport.Transport, typ resources.Type, cfg cty.Value) (*resources.State, error) {
	res, err := runProbe(tr, typ, cfg)
	if err != nil {
		return nil, err
	}
	return typ.Read(cfg, res)
}

// TestServiceCLI: a fleet's services through the CLI: converge, drift
// reported for exactly the resource and host, apply restores; a notify
// restarts a running service once, reloads with refresh = "reload", and
// does not restart a service the same apply started; rollback restores
// running and enabled.
func TestServiceCLI(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "svccli"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		installTestUnit(t, l, i)
	}
	config := func(conf string, running bool) string {
		return fmt.Sprintf(`
service "cron" {
  running = true
  enabled = true
}
file "app_conf" {
  path    = "/etc/tend-e2e.conf"
  content = %q
  notify  = [service.app]
}
file "app_env" {
  path    = "/etc/tend-e2e.env"
  content = %q
  notify  = [service.app]
}
service "app" {
  name    = "tend-e2e"
  running = %v
}
`, conf, conf, running)
	}
	write(t, filepath.Join(dir, "main.hcl"), config("one\n", true))

	// 1. The first apply starts tend-e2e while its configuration file is
	// written and notifies it: started once, not restarted again.
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("first apply: exit %d", code)
	}
	for i := 1; i <= 2; i++ {
		if got := startLog(t, l, i); got != "start" {
			t.Errorf("host %d: the service started by this apply was also refreshed: log %q, want one start", i, got)
		}
	}
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Fatalf("second plan: exit %d, want 0\n%s", code, out)
	}

	// 2. Drift: cron stopped by hand on host 2 only.
	mustExec(t, l, 2, "systemctl stop cron")
	changed, errs := planJSON(t, "-C", dir)
	if len(errs) > 0 {
		t.Fatalf("plan errors: %v", errs)
	}
	if want := map[string][]string{l.Host(2).Name: {"service.cron"}}; fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v, want %v", changed, want)
	}
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "running: false → true") {
		t.Errorf("plan after the hand stop: exit %d, want 2 showing running: false → true", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if got := mustExec(t, l, 2, "systemctl is-active cron || true"); got != "active" {
		t.Errorf("cron on host 2 is %q after apply, want active", got)
	}

	// 3. Two changed files notifying it restart the running service once.
	pid := mustExec(t, l, 1, "systemctl show -p MainPID --value tend-e2e")
	write(t, filepath.Join(dir, "main.hcl"), config("two\n", true))
	out, _, code = tend(t, "apply", "-C", dir, "-y")
	if code != 0 || !strings.Contains(out, "service.app refreshed") {
		t.Fatalf("apply of the changed file: exit %d, want service.app refreshed", code)
	}
	if got := mustExec(t, l, 1, "systemctl show -p MainPID --value tend-e2e"); got == pid || got == "0" {
		t.Errorf("MainPID %s → %s: the notified service was not restarted", pid, got)
	}
	if got := startLog(t, l, 1); got != "start\nstart" {
		t.Errorf("log after the notify %q, want exactly one more start", got)
	}

	// 4. refresh = "reload" reloads instead.
	write(t, filepath.Join(dir, "main.hcl"), strings.Replace(config("three\n", true), `name    = "tend-e2e"`, "name    = \"tend-e2e\"\n  refresh = \"reload\"", 1))
	pid = mustExec(t, l, 1, "systemctl show -p MainPID --value tend-e2e")
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply with reload: exit %d", code)
	}
	if got := mustExec(t, l, 1, "systemctl show -p MainPID --value tend-e2e"); got != pid {
		t.Errorf("MainPID %s → %s: a reload restarted the service", pid, got)
	}
	if got := startLog(t, l, 1); got != "start\nstart\nreload" {
		t.Errorf("log after the reload %q, want one reload", got)
	}

	// 5. A stopped service that is not to run stays stopped when notified.
	mustExec(t, l, 1, "systemctl stop tend-e2e")
	write(t, filepath.Join(dir, "main.hcl"), config("four\n", false))
	if _, _, code := tend(t, "apply", "-C", dir, "-y", "--target", l.Host(1).Name); code != 0 {
		t.Fatalf("apply with the service stopped: exit %d", code)
	}
	if got := mustExec(t, l, 1, "systemctl is-active tend-e2e || true"); got != "inactive" {
		t.Errorf("a notification started a service meant to be stopped: %s", got)
	}

	// 6. Rollback restores running and enabled exactly.
	write(t, filepath.Join(dir, "main.hcl"), `
service "cron" {
  running = false
  enabled = false
}
`)
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("stopping apply: exit %d", code)
	}
	for i := 1; i <= 2; i++ {
		if got := mustExec(t, l, i, "systemctl is-active cron; systemctl is-enabled cron || true"); got != "inactive\ndisabled" {
			t.Errorf("host %d after stopping: %q", i, got)
		}
	}
	runs, err := journal.List(dir)
	if err != nil || len(runs) == 0 {
		t.Fatalf("no journal: %v", err)
	}
	if _, _, code := tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y"); code != 0 {
		t.Fatalf("rollback: exit %d", code)
	}
	for i := 1; i <= 2; i++ {
		if got := mustExec(t, l, i, "systemctl is-active cron; systemctl is-enabled cron"); got != "active\nenabled" {
			t.Errorf("host %d after rollback: %q, want active and enabled", i, got)
		}
	}
}

// runProbe runs one resource's probe fragment on a host.
func runProbe(tr transport.Transport, typ resources.Type, cfg cty.Value) (resources.ProbeOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := probe.Run(ctx, tr, false, []probe.Fragment{{ID: "r", Script: typ.Probe(cfg, nil)}})
	if err != nil {
		return resources.ProbeOutput{}, err
	}
	if msg, ok := res.Failed["r"]; ok {
		return resources.ProbeOutput{}, fmt.Errorf("probe failed: %s", msg)
	}
	return res.Outputs["r"], nil
}

// TestServiceContractSysVinit: the contract for service on a host booted
// with System V init (no systemd at all): the init script's status, its
// rc2.d start links, update-rc.d; detected, not configured. Then notify
// and the "just started" rule through the CLI there too.
func TestServiceContractSysVinit(t *testing.T) {
	testServiceNonSystemd(t, lab.InitSysVinit, "/etc/init.d/cron stop", "rm /etc/rc[2345].d/S*cron")
}

// TestServiceContractOpenRC: the same on a host whose System V init runs
// OpenRC: rc-service status, a link in /etc/runlevels/default,
// rc-update.
func TestServiceContractOpenRC(t *testing.T) {
	testServiceNonSystemd(t, lab.InitOpenRC, "rc-service cron stop", "rc-update del cron default")
}

func testServiceNonSystemd(t *testing.T, init, stopByHand, disableByHand string) {
	// rcS runs its scripts one by one: slower than systemd, more so on a
	// loaded machine.
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "svc" + init, Init: init, BootTimeout: 3 * time.Minute})
	check := map[string]string{lab.InitSysVinit: "ls /etc/rc2.d | grep cron", lab.InitOpenRC: "ls /etc/runlevels/default | grep cron"}[init]
	want := map[string]string{lab.InitSysVinit: "S01cron", lab.InitOpenRC: "cron"}[init]
	if out := mustExec(t, l, 1, "[ -d /run/systemd/system ] && echo systemd; "+check); out != want {
		t.Fatalf("not a %s host with cron enabled: %q", init, out)
	}
	h := labConn(t, l, 1)
	svc := service.Service{}
	b := cty.BoolVal
	cron := func(attrs map[string]cty.Value) map[string]cty.Value {
		attrs["name"] = cty.StringVal("cron")
		return attrs
	}
	resourcetest.Run(t, h.T, h, nil, []resourcetest.Step{
		{Name: "stop", Type: svc, Config: cron(map[string]cty.Value{"running": b(false)}), Want: plan.Update},
		{Name: "stopped no-op", Type: svc, Config: cron(map[string]cty.Value{"running": b(false)}), Want: plan.NoOp},
		{Name: "start", Type: svc, Config: cron(map[string]cty.Value{"running": b(true)}), Want: plan.Update},
		{Name: "disable", Type: svc, Config: cron(map[string]cty.Value{"enabled": b(false)}), Want: plan.Update},
		{Name: "enable", Type: svc, Config: cron(map[string]cty.Value{"enabled": b(true)}), Want: plan.Update},
		{Name: "stop and disable", Type: svc, Config: cron(map[string]cty.Value{"running": b(false), "enabled": b(false)}), Want: plan.Update},
		{Name: "start and enable", Type: svc, Config: cron(map[string]cty.Value{"running": b(true), "enabled": b(true)}), Want: plan.Update},
		{Name: "stopped by hand", Type: svc, Setup: stopByHand, Config: cron(map[string]cty.Value{"running": b(true)}), Want: plan.Update},
		{Name: "disabled by hand", Type: svc, Setup: disableByHand, Config: cron(map[string]cty.Value{"enabled": b(true)}), Want: plan.Update},
	})
	st, err := readOne(h.T, svc, resourcetest.Object(svc, cron(map[string]cty.Value{})))
	if err != nil || st.Str("provider") != init {
		t.Errorf("provider %q (%v), want the detected %s", st.Str("provider"), err, init)
	}
	if _, err := readOne(h.T, svc, resourcetest.Object(svc, map[string]cty.Value{"name": cty.StringVal("nginx")})); err == nil ||
		!strings.Contains(err.Error(), "service nginx not found") || !strings.Contains(err.Error(), "/etc/init.d/nginx") {
		t.Errorf("unknown service: %v", err)
	}

	// Through the CLI: a notified running cron restarts once (new pid);
	// cron started by the same apply is not restarted again.
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	config := func(content string) string {
		return fmt.Sprintf(`
file "crontab_note" {
  path    = "/etc/cron.d/note"
  content = %q
  notify  = [service.cron]
}
service "cron" {
  running = true
}
`, content)
	}
	pidof := func() string { return mustExec(t, l, 1, "cat /run/crond.pid") }
	write(t, filepath.Join(dir, "main.hcl"), config("# one\n"))
	before := pidof()
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	if after := pidof(); after == before {
		t.Errorf("cron pid %s unchanged: the notified service was not restarted", after)
	}
	mustExec(t, l, 1, stopByHand)
	write(t, filepath.Join(dir, "main.hcl"), config("# two\n"))
	out, _, code := tend(t, "apply", "-C", dir, "-y")
	if code != 0 || !strings.Contains(out, "running: false → true") {
		t.Fatalf("apply: exit %d, want the start", code)
	}
	started := pidof()
	time.Sleep(100 * time.Millisecond)
	if got := mustExec(t, l, 1, "ps -o pid= -C cron | tr -d ' '"); got != started {
		t.Errorf("cron processes %q, pid file %s: restarted after being started?", got, started)
	}
	if strings.Contains(out, "service.cron refreshed") {
		t.Errorf("the apply that started cron also refreshed it")
	}
}
