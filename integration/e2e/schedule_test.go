package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/resources/schedule"
)

// TestScheduleContract: the idempotence contract for scheduled_task on a
// systemd host over SSH, both kinds: create, no-op, change schedule,
// change command, environment, hand edits of the files and of the
// timer's state, absent. Each revert must restore the files byte for
// byte and the timer's states (the contract compares fingerprints).
func TestScheduleContract(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "schedc"})
	h := labConn(t, l, 1)
	task := schedule.Task{}
	s := cty.StringVal
	cfg := func(kind, sched, cmd string, extra ...map[string]cty.Value) map[string]cty.Value {
		m := map[string]cty.Value{"name": s("backup"), "kind": s(kind), "schedule": s(sched), "command": s(cmd)}
		for _, e := range extra {
			for k, v := range e {
				m[k] = v
			}
		}
		return m
	}
	env := map[string]cty.Value{"environment": cty.MapVal(map[string]cty.Value{"PATH": s("/usr/local/bin:/usr/bin:/bin"), "MSG": s(`say "hi" 100% $HOME`)})}
	absent := func(kind string) map[string]cty.Value {
		return map[string]cty.Value{"name": s("backup"), "kind": s(kind), "state": s("absent")}
	}
	cronFile := "/etc/cron.d/tend-backup"
	resourcetest.Run(t, h.T, h, nil, []resourcetest.Step{
		{Name: "cron create", Type: task, Config: cfg("cron", "30 2 * * *", "/usr/local/bin/backup --all"), Want: plan.Create},
		{Name: "cron no-op", Type: task, Config: cfg("cron", "30 2 * * *", "/usr/local/bin/backup --all"), Want: plan.NoOp},
		{Name: "cron schedule", Type: task, Config: cfg("cron", "*/15 * * * 1-5", "/usr/local/bin/backup --all"), Want: plan.Update},
		{Name: "cron command", Type: task, Config: cfg("cron", "*/15 * * * 1-5", "date +%F >> /var/log/backup.log"), Want: plan.Update},
		{Name: "cron environment and user", Type: task, Config: cfg("cron", "@daily", "date +%F >> /tmp/x", env, map[string]cty.Value{"user": s("ops")}), Want: plan.Update},
		{Name: "cron hand edit", Type: task, Setup: "echo '* * * * * root rm -rf /' >> " + cronFile,
			Config: cfg("cron", "@daily", "date +%F >> /tmp/x", env, map[string]cty.Value{"user": s("ops")}), Want: plan.Update},
		{Name: "cron mode", Type: task, Setup: "chmod 0664 " + cronFile,
			Config: cfg("cron", "@daily", "date +%F >> /tmp/x", env, map[string]cty.Value{"user": s("ops")}), Want: plan.Update},
		{Name: "cron reboot", Type: task, Config: cfg("cron", "@reboot", "true"), Want: plan.Update},
		{Name: "cron absent", Type: task, Config: absent("cron"), Want: plan.Delete},
		{Name: "cron absent no-op", Type: task, Config: absent("cron"), Want: plan.NoOp},

		{Name: "timer create", Type: task, Config: cfg("systemd_timer", "30 2 * * *", "/usr/local/bin/backup --all"), Want: plan.Create},
		{Name: "timer no-op", Type: task, Config: cfg("systemd_timer", "30 2 * * *", "/usr/local/bin/backup --all"), Want: plan.NoOp},
		{Name: "timer schedule", Type: task, Config: cfg("systemd_timer", "0 9-17 * * 1-5", "/usr/local/bin/backup --all"), Want: plan.Update},
		{Name: "timer command", Type: task, Config: cfg("systemd_timer", "0 9-17 * * 1-5", "date +%F >> /var/log/backup.log"), Want: plan.Update},
		{Name: "timer environment", Type: task, Config: cfg("systemd_timer", "@weekly", "date +%F", env), Want: plan.Update},
		{Name: "timer stopped and disabled by hand", Type: task, Setup: "systemctl disable --now --quiet tend-backup.timer",
			Config: cfg("systemd_timer", "@weekly", "date +%F", env), Want: plan.Update},
		{Name: "timer stopped by hand", Type: task, Setup: "systemctl stop tend-backup.timer",
			Config: cfg("systemd_timer", "@weekly", "date +%F", env), Want: plan.Update},
		{Name: "timer unit edited by hand", Type: task, Setup: "sed -i s/OnCalendar=.*/OnCalendar=hourly/ /etc/systemd/system/tend-backup.timer && systemctl daemon-reload",
			Config: cfg("systemd_timer", "@weekly", "date +%F", env), Want: plan.Update},
		{Name: "timer service missing", Type: task, Setup: "rm /etc/systemd/system/tend-backup.service && systemctl daemon-reload",
			Config: cfg("systemd_timer", "@weekly", "date +%F", env), Want: plan.Update},
		{Name: "timer absent", Type: task, Config: absent("systemd_timer"), Want: plan.Delete},
		{Name: "timer absent no-op", Type: task, Config: absent("systemd_timer"), Want: plan.NoOp},
	})
}

// TestScheduleCommandsRun: what tend writes makes cron and systemd run
// the command exactly as sh -c would, environment included, with the
// characters each format treats specially (%, \, ", ', $).
func TestScheduleCommandsRun(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "schedrun"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	// The command prints its arguments and environment between bars.
	command := `printf '|%s' "$MSG" "$QUOTES" 'b\s' '100%' "$(echo x | tr x y)" \"q\" "$LOGNAME" > `
	hcl := func(kind, out string) string {
		return fmt.Sprintf(`
scheduled_task %q {
  kind        = %q
  schedule    = "* * * * *"
  command     = %q
  environment = {
    MSG    = "dollar $HOME, percent %%, backslash \\ and 'single'"
    QUOTES = "say \"hi\""
  }
}
`, "run_"+strings.TrimPrefix(kind, "systemd_"), kind, command+out)
	}
	// The same command from a sensitive variable: cron gives it to the
	// shell on standard input instead.
	secret := fmt.Sprintf(`
variable "cmd" {
  sensitive = true
  default   = %q
}
`, command+"/var/tmp/secret.out") + strings.Replace(strings.Replace(hcl("cron", ""), fmt.Sprintf("%q", command), "var.cmd", 1), `"run_cron"`, `"run_secret"`, 1)
	write(t, filepath.Join(dir, "main.hcl"), hcl("cron", "/var/tmp/cron.out")+hcl("systemd_timer", "/var/tmp/timer.out")+secret)
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	want := `|dollar $HOME, percent %, backslash \ and 'single'|say "hi"|b\s|100%|y|"q"|root`
	mustExec(t, l, 1, "systemctl start tend-run_timer.service")
	if got := read(t, filepath.Join(l.Host(1).Root, "var/tmp/timer.out")); got != want {
		t.Errorf("the timer's service wrote\n%s\nwant\n%s", got, want)
	}
	if line := read(t, filepath.Join(l.Host(1).Root, "etc/cron.d/tend-run_secret")); !strings.Contains(line, "* * * * * root /bin/sh%printf '|\\%s'") {
		t.Errorf("the secret command's cron file:\n%s", line)
	}
	// cron runs them at the start of the next minute.
	deadline := time.Now().Add(75 * time.Second)
	for _, out := range []string{"cron.out", "secret.out"} {
		p := filepath.Join(l.Host(1).Root, "var/tmp", out)
		for {
			if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
				if string(b) != want {
					t.Errorf("cron wrote %s\n%s\nwant\n%s", out, b, want)
				}
				break
			}
			if time.Now().After(deadline) {
				out, _ := l.Exec(1, "journalctl -u cron --no-pager | tail")
				t.Fatalf("cron did not run the task within 75 s:\n%s", out)
			}
			time.Sleep(time.Second)
		}
	}
}

// TestScheduleOnCalendarAgreesWithSystemd: systemd itself reads each
// translated OnCalendar= as firing at the same times as cron would run
// the schedule (next elapses from a fixed base, by systemd-analyze on a
// lab host, against cron's rules).
func TestScheduleOnCalendarAgreesWithSystemd(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "schedcal"})
	specs := []string{"30 2 * * *", "* * * * *", "*/15 * * * *", "5-59/15 * * * *", "0 9-17 * * 1-5", "0 0 1,15 * *",
		"0 0 * * 7", "0 0 * * 5-7", "0 0 * * */2", "0 0 */2 * 1", "0 12 * */3 *", "0 0 31 * *", "@hourly", "@daily",
		"@weekly", "@monthly", "@yearly", "0 0 1-31/10 1-11/5 *", "59 23 28-31 12 *", "0 */6 * * *", "0 1-23/2 * * *", "0 0 29 2 *"}
	const iterations = 6
	// A base inside the year: from 2027-12-31 23:59, systemd 252 (Debian
	// 12) skips the first firing after New Year of a day-of-month
	// repetition (*-*-01/11 00/2:00/24:00 next elapses on 2028-01-12, not
	// 2028-01-01), which is systemd's own computation, not the
	// translation, which agrees with cron from any base inside a year.
	base := time.Date(2027, 6, 14, 10, 7, 0, 0, time.UTC)
	seed := time.Now().UnixNano()
	t.Logf("random schedules from seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	fields := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	for len(specs) < 80 {
		var f []string
		for _, r := range fields {
			f = append(f, randCronField(rng, r[0], r[1]))
		}
		// Random days and months may name a date that never comes (the
		// 30th of February): cron never runs those, and systemd says
		// "never"; only schedules that run are compared.
		if sc, err := schedule.Parse(strings.Join(f, " ")); err == nil && len(cronNext(sc, base, iterations)) == iterations {
			if _, err := sc.OnCalendar(); err == nil {
				specs = append(specs, sc.Spec)
			}
		}
	}
	args := []string{"TZ=UTC", "systemd-analyze", "calendar", "--iterations=" + strconv.Itoa(iterations), "--base-time='" + base.Format("2006-01-02 15:04:05") + " UTC'"}
	var cals []string
	for _, s := range specs {
		sc, _ := schedule.Parse(s)
		cal, err := sc.OnCalendar()
		if err != nil {
			t.Fatal(err)
		}
		cals = append(cals, cal)
		args = append(args, "'"+cal+"'")
	}
	out := mustExec(t, l, 1, strings.Join(args, " "))
	var elapses []time.Time
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		_, v, ok := strings.Cut(line, "Next elapse: ")
		if !ok {
			if _, v, ok = strings.Cut(line, ": "); !ok || !strings.HasPrefix(line, "Iter. #") {
				continue
			}
		}
		tm, err := time.Parse("Mon 2006-01-02 15:04:05 MST", v)
		if err != nil {
			t.Fatalf("systemd-analyze line %q: %v", line, err)
		}
		elapses = append(elapses, tm)
	}
	if len(elapses) != len(specs)*iterations {
		t.Fatalf("systemd-analyze printed %d times for %d expressions × %d iterations:\n%s", len(elapses), len(specs), iterations, out)
	}
	for i, s := range specs {
		sc, _ := schedule.Parse(s)
		want := cronNext(sc, base, iterations)
		got := elapses[i*iterations : (i+1)*iterations]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q → OnCalendar=%s: systemd fires at\n%v\ncron at\n%v", s, cals[i], got, want)
		}
	}
}

// cronNext returns the next n minutes after base at which cron runs sc.
func cronNext(sc *schedule.Schedule, base time.Time, n int) []time.Time {
	var out []time.Time
	for m := base.Add(time.Minute); len(out) < n && m.Year() < base.Year()+30; m = m.Add(time.Minute) {
		if sc.Matches(m.Minute(), m.Hour(), m.Day(), int(m.Month()), int(m.Weekday())) {
			out = append(out, m)
		}
	}
	return out
}

func randCronField(rng *rand.Rand, lo, hi int) string {
	switch rng.Intn(5) {
	case 0:
		return "*"
	case 1:
		return "*/" + strconv.Itoa(1+rng.Intn(hi-lo+1))
	case 2:
		a := lo + rng.Intn(hi-lo+1)
		return strconv.Itoa(a) + "-" + strconv.Itoa(a+rng.Intn(hi-a+1)) + "/" + strconv.Itoa(1+rng.Intn(4))
	default:
		var parts []string
		for i := 0; i < 1+rng.Intn(3); i++ {
			parts = append(parts, strconv.Itoa(lo+rng.Intn(hi-lo+1)))
		}
		return strings.Join(parts, ",")
	}
}

// TestScheduleCLI: both kinds through the CLI on two hosts: converge;
// a hand edit of the cron file on one host is reported for exactly that
// resource and host, with a diff, and undone by apply; a timer disabled
// by hand likewise; tend rollback restores the files byte for byte and
// the timer's states, after a change and after a removal.
func TestScheduleCLI(t *testing.T) {
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "schedcli"})
	dir := t.TempDir()
	if err := l.WriteInventory(filepath.Join(dir, "inventory.hcl")); err != nil {
		t.Fatal(err)
	}
	config := func(sched, cmd, state string) string {
		return fmt.Sprintf(`
scheduled_task "backup" {
  schedule = %[1]q
  command  = %[2]q
  state    = %[3]q
}
scheduled_task "report" {
  kind     = "systemd_timer"
  schedule = %[1]q
  command  = %[2]q
  user     = "ops"
  state    = %[3]q
}
`, sched, cmd, state)
	}
	write(t, filepath.Join(dir, "main.hcl"), config("30 2 * * *", "/usr/local/bin/backup", "present"))
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("first apply: exit %d", code)
	}
	if out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode"); code != 0 {
		t.Fatalf("second plan: exit %d\n%s", code, out)
	}
	h2 := l.Host(2)
	cronPath := filepath.Join(h2.Root, "etc/cron.d/tend-backup")
	wantCron := "# Managed by tend: scheduled_task \"backup\". Changes made here are undone by the next tend apply.\n30 2 * * * root /usr/local/bin/backup\n"
	if got := read(t, cronPath); got != wantCron {
		t.Errorf("cron file:\n%s\nwant\n%s", got, wantCron)
	}
	if got := mustExec(t, l, 1, "systemctl is-enabled tend-report.timer; systemctl is-active tend-report.timer; systemctl show -p User --value tend-report.service"); got != "enabled\nactive\nops" {
		t.Errorf("timer state: %q", got)
	}

	// Drift: a hand edit of the cron file on host 2, the timer disabled
	// on host 1.
	write(t, cronPath, strings.Replace(wantCron, "30 2", "0 3", 1))
	mustExec(t, l, 1, "systemctl disable --quiet tend-report.timer")
	changed, errs := planJSON(t, "-C", dir)
	if len(errs) > 0 {
		t.Fatalf("plan errors: %v", errs)
	}
	if want := map[string][]string{l.Host(1).Name: {"scheduled_task.report"}, h2.Name: {"scheduled_task.backup"}}; fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("drift reported as %v, want %v", changed, want)
	}
	out, _, code := tend(t, "plan", "-C", dir, "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "-0 3 * * * root /usr/local/bin/backup") || !strings.Contains(out, "+30 2 * * * root /usr/local/bin/backup") ||
		!strings.Contains(out, "enabled: false → true") {
		t.Errorf("plan after the hand edits: exit %d, want 2 with the diff and the timer's enabled", code)
	}
	if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
		t.Fatalf("restoring apply: exit %d", code)
	}
	if got := read(t, cronPath); got != wantCron {
		t.Errorf("cron file not restored:\n%s", got)
	}

	// Rollback of a change, then of a removal, restores exactly.
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, h := range l.Hosts {
			for _, f := range []string{"etc/cron.d/tend-backup", "etc/systemd/system/tend-report.service", "etc/systemd/system/tend-report.timer"} {
				b, err := os.ReadFile(filepath.Join(h.Root, f))
				if err == nil {
					fi, _ := os.Stat(filepath.Join(h.Root, f))
					m[h.Name+":"+f] = fmt.Sprintf("%s %v %q", fi.Mode(), fi.ModTime().UnixNano(), b)
				}
			}
			i := h.Index
			m[h.Name+":timer"] = mustExec(t, l, i, "systemctl is-enabled tend-report.timer || true; systemctl is-active tend-report.timer || true; systemctl show -p TimersCalendar --value tend-report.timer | sed 's/; next_elapse=.*//'")
		}
		return m
	}
	// Host 2's timer is stopped (enabled): the rollback must keep it so.
	mustExec(t, l, 2, "systemctl stop tend-report.timer")
	orig := snapshot()
	for _, next := range []string{config("@hourly", "/usr/local/bin/backup --fast", "present"), config("@hourly", "x", "absent")} {
		write(t, filepath.Join(dir, "main.hcl"), next)
		if _, _, code := tend(t, "apply", "-C", dir, "-y"); code != 0 {
			t.Fatalf("apply: exit %d", code)
		}
		if fmt.Sprint(snapshot()) == fmt.Sprint(orig) {
			t.Fatal("the apply changed nothing")
		}
		runs, err := journal.List(dir)
		if err != nil || len(runs) == 0 {
			t.Fatalf("no journal: %v", err)
		}
		if _, _, code := tend(t, "rollback", runs[len(runs)-1].ID, "-C", dir, "-y"); code != 0 {
			t.Fatalf("rollback: exit %d", code)
		}
		if got := snapshot(); fmt.Sprint(got) != fmt.Sprint(orig) {
			for k, v := range orig {
				if got[k] != v {
					t.Errorf("after rollback %s:\n%s\nwant\n%s", k, got[k], v)
				}
			}
		}
	}
}
