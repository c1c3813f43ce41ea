package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/journal"
)

// canaryConfig threads one secret (secret("env:TEND_CANARY")) and one
// sensitive variable (var.pw) through every place of a configuration a
// value can go on a Debian host: file content (one file holding exactly
// the secret, whose digest would be the secret's), a template's
// variables, an exec's command, unless and creates, a cron entry's
// command (run by cron every minute: it marks that it ran, then sleeps,
// so its shell is on the process list for a while) and environment, a
// user's password hash, a rollout's health check, and the stderr of an
// exec that fails until /var/lib/canary-ok exists. The commands use the
// secret in the shell's builtins only: an argument of a program they run
// would be on that program's command line, which is the configuration's
// doing (docs/language.md, Secrets), not tend's.
const canaryConfig = `
variable "pw" {
  sensitive = true
}
rollout {
  serial = 1
  health_check {
    command = "read -r l </etc/canary-app.conf; [ \"$l\" = 'password = ${secret("env:TEND_CANARY")}' ]"
    retries = 1
    delay   = "100ms"
    timeout = "20s"
  }
}
file "conf" {
  path    = "/etc/canary-app.conf"
  content = "password = ${secret("env:TEND_CANARY")}\n"
}
file "raw" {
  path    = "/etc/canary-raw"
  content = secret("env:TEND_CANARY")
}
file "tpl" {
  path    = "/etc/canary-tpl.conf"
  content = templatefile("t.tpl", { pw = var.pw, s = secret("env:TEND_CANARY") })
}
exec "unless" {
  command    = "read -r l </etc/canary-app.conf; [ \"$l\" = 'password = ${secret("env:TEND_CANARY")}' ] && : >/var/lib/canary-unless"
  unless     = "test -f /var/lib/canary-unless && test -n '${secret("env:TEND_CANARY")}'"
  depends_on = [file.conf]
}
exec "creates" {
  command = ": >'/var/lib/canary-${secret("env:TEND_CANARY")}'"
  creates = "/var/lib/canary-${secret("env:TEND_CANARY")}"
}
exec "fails" {
  command    = "echo \"using ${secret("env:TEND_CANARY")} and ${var.pw}\" >&2; exit 3"
  creates    = "/var/lib/canary-ok"
  depends_on = [exec.unless, exec.creates]
}
scheduled_task "canary" {
  schedule    = "* * * * *"
  command     = "[ -n '${secret("env:TEND_CANARY")}' ] && : >/var/lib/canary-cron-ran; sleep 3"
  environment = { PW = secret("env:TEND_CANARY") }
}
user "canary" {
  password_hash = format("$6$cnry$%s", secret("env:TEND_CANARY"))
}
`

// canaryDiagConfigs convert the secret, then a sensitive variable, to
// numbers, which they are not.
var canaryDiagConfigs = []string{`
file "n" {
  path    = "/etc/canary-n.conf"
  content = "n = ${tonumber(secret("env:TEND_CANARY"))}\n"
}
`, `
variable "port" {
  type      = number
  sensitive = true
}
file "p" {
  path    = "/etc/canary-p.conf"
  content = "p = ${var.port}\n"
}
`}

// canaryKillConfig runs an exec carrying the secret long enough to kill
// tend in the middle of it.
const canaryKillConfig = `
exec "slow" {
  command = "touch /var/tmp/canary-started; sleep 15; echo '${secret("env:TEND_CANARY")}' >/dev/null"
  creates = "/var/lib/canary-never"
}
file "after" {
  path       = "/etc/canary-after.conf"
  content    = "after = ${secret("env:TEND_CANARY")}\n"
  depends_on = [exec.slow]
}
`

// canaryRun is the state of TestCanaryLab: the canaries, the tend binary
// and its environment, and the leaks found.
type canaryRun struct {
	t    *testing.T
	mark string // in both canaries; random, so no other test's files hold it
	// needles are what no output or file may hold: the mark, and each
	// canary's SHA-256 (hex) and base64, which tell it as surely.
	needles []string
	secret  string // TEND_CANARY, the ops user's sudo password too
	pw      string // the sensitive variable pw
	bin     string
	env     []string
	tmp     string // the controller's TMPDIR for tend
}

// tend runs the binary to completion and reports the canary in its
// stdout or stderr.
func (c *canaryRun) tend(extraEnv []string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(append(os.Environ(), c.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	code := cmd.ProcessState.ExitCode()
	c.t.Logf("tend %s → exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	c.check(fmt.Sprintf("tend %s: stdout", strings.Join(args, " ")), out.Bytes())
	c.check(fmt.Sprintf("tend %s: stderr", strings.Join(args, " ")), errb.Bytes())
	return out.String(), errb.String(), code
}

// check reports the canary in b, with what surrounds it.
func (c *canaryRun) check(where string, b []byte) {
	c.t.Helper()
	for _, n := range c.needles {
		if i := bytes.Index(b, []byte(n)); i >= 0 {
			c.t.Errorf("the canary (%s) is in %s: %q", n, where, b[max(0, i-80):min(len(b), i+len(n)+60)])
		}
	}
}

// canaryNeedles returns mark and, for each value, its SHA-256 in hex and
// its base64.
func canaryNeedles(mark string, values ...string) []string {
	out := []string{mark}
	for _, v := range values {
		sum := sha256.Sum256([]byte(v))
		out = append(out, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return out
}

// hold returns the needle b holds, or "".
func (c *canaryRun) hold(b []byte) string {
	for _, n := range c.needles {
		if bytes.Contains(b, []byte(n)) {
			return n
		}
	}
	return ""
}

// walk reports the files under root holding the canary, by content or
// by name, except those skip accepts.
func (c *canaryRun) walk(root string, skip func(path string) bool) (hits []string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if skip != nil && skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if c.hold([]byte(d.Name())) != "" {
			hits = append(hits, p+" (name)")
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.Size() > 64<<20 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			if n := c.hold(b); n != "" {
				i := bytes.Index(b, []byte(n))
				hits = append(hits, fmt.Sprintf("%s: %q", p, b[max(0, i-60):min(len(b), i+len(n)+40)]))
			}
		}
		return nil
	})
	return hits
}

// cmdlineSampler reads /proc/*/cmdline of every process of the machine
// (the lab hosts share its kernel, and this test runs in the initial PID
// namespace, so their processes are there too) until stopped.
type cmdlineSampler struct {
	needles []string
	allowed func(argv []string) bool
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples int
	hits    map[string]int // cmdline → samples holding it
}

func startSampler(needles []string, allowed func(argv []string) bool) *cmdlineSampler {
	s := &cmdlineSampler{needles: needles, allowed: allowed, stop: make(chan struct{}), done: make(chan struct{}), hits: map[string]int{}}
	held := func(b []byte) bool {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				return true
			}
		}
		return false
	}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				if _, err := strconv.Atoi(e.Name()); err != nil {
					continue
				}
				b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
				if err != nil || !held(b) {
					continue
				}
				argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
				if s.allowed(argv) {
					continue
				}
				s.mu.Lock()
				s.hits[fmt.Sprintf("pid %s: %q", e.Name(), argv)]++
				s.mu.Unlock()
			}
			s.mu.Lock()
			s.samples++
			s.mu.Unlock()
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return s
}

// control is the sampler's positive control: a process on a host (exec
// runs a command there) with mark on its command line, kept until the
// sampler has made two whole passes over /proc since it started, so that
// however loaded the machine, a sampler that works sees it.
func (s *cmdlineSampler) control(t *testing.T, exec func(string) (string, error), mark string) {
	t.Helper()
	// Its pid, to end it by: a pkill -f naming the mark would match the
	// shell running it.
	out, err := exec("setsid sh -c 'sleep 120; :' " + mark + " </dev/null >/dev/null 2>&1 & echo $!")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the control's pid: %q", out)
	}
	s.mu.Lock()
	start := s.samples
	s.mu.Unlock()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s.mu.Lock()
		n := s.samples
		s.mu.Unlock()
		if n >= start+2 {
			break
		}
	}
	if _, err := exec(fmt.Sprintf("kill %d || :", pid)); err != nil {
		t.Fatal(err)
	}
}

func (s *cmdlineSampler) finish() (int, []string) {
	close(s.stop)
	<-s.done
	var hits []string
	for k, n := range s.hits {
		hits = append(hits, fmt.Sprintf("%s (%d samples)", k, n))
	}
	sort.Strings(hits)
	return s.samples, hits
}

// buildTend builds ./cmd/tend into dir.
func buildTend(t *testing.T, dir string) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(dir, "tend")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tend")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tend: %v\n%s", err, out)
	}
	return bin
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

var canaryRunRE = regexp.MustCompile(`Applying \(run ([^)\s]+)\)`)

// TestCanaryLab: one secret from the environment, also the become
// password of the inventory's ops user, and a sensitive variable, threaded
// through every place a value can go on a lab host, while every command
// runs with the real binary over SSH with sudo. No stdout, stderr, saved
// plan, file of the configuration's .tend/ or of the controller's TMPDIR,
// and no command line of any process on the machine (sampled every few ms
// through the whole test) holds either; after tend is SIGKILLed in the
// middle of an apply, no file in the host's /tmp, /dev/shm, /var/tmp or
// /run holds them. The secrets do reach the host, where they belong.
func TestCanaryLab(t *testing.T) {
	lab.Required(t)
	begin := time.Now()
	l := lab.StartT(t, lab.Options{Hosts: 1, Name: "canary"})
	h := l.Host(1)
	rnd := make([]byte, 6)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	mark := "cnry" + hex.EncodeToString(rnd)
	c := &canaryRun{t: t, mark: mark, secret: "Zq7" + mark + "K3v9xT", pw: "Wp4" + mark + "J8m2yR"}
	c.needles = canaryNeedles(mark, c.secret, c.pw)
	binDir, keys, dir, planDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	c.tmp = t.TempDir()
	c.bin = buildTend(t, binDir)
	c.env = []string{"TEND_CANARY=" + c.secret, "TMPDIR=" + c.tmp, "XDG_STATE_HOME=" + keys, "NO_COLOR=1"}

	// The ops user's sudo password becomes the canary, set through a
	// file (not a command line), before sampling starts.
	pwFile := filepath.Join(h.Root, "root/canary-pw")
	if err := os.WriteFile(pwFile, []byte(lab.OpsUser+":"+c.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(1, "chpasswd < /root/canary-pw && rm /root/canary-pw"); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := l.WriteInventory(inv, lab.InventoryUser(lab.OpsUser), lab.InventoryBecome("BECOME-PLACEHOLDER")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	write(t, inv, strings.Replace(string(b), `"BECOME-PLACEHOLDER"`, `secret("env:TEND_CANARY")`, 1))
	write(t, filepath.Join(dir, "main.hcl"), canaryConfig)
	write(t, filepath.Join(dir, "t.tpl"), "pw = ${pw}\ns = ${s}\n")

	// The only command line allowed to hold a canary: the -var pw=...
	// the operator gives tend.
	sampler := startSampler(c.needles, func(argv []string) bool {
		if len(argv) == 0 || argv[0] != c.bin {
			return false
		}
		for _, a := range argv {
			if strings.Contains(a, mark) && a != "pw="+c.pw {
				return false
			}
		}
		return true
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sampler.finish()
		}
	})

	// A positive control: a process on the host with the mark on its
	// command line is seen.
	control := "ctl-" + mark
	sampler.control(t, func(cmd string) (string, error) { return l.Exec(1, cmd) }, control)

	var diags []string
	v := []string{"-var", "pw=" + c.pw}
	envVar := []string{"TEND_VAR_pw=" + c.pw}
	planFile := filepath.Join(planDir, "saved.plan")
	if _, _, code := c.tend(nil, append([]string{"validate", "-C", dir}, v...)...); code != 0 {
		t.Errorf("validate: exit %d", code)
	}
	if out, _, code := c.tend(nil, append([]string{"plan", "-C", dir}, v...)...); code != 0 || !strings.Contains(out, "file.conf") {
		t.Errorf("plan: exit %d, want the changes", code)
	}
	c.tend(nil, append([]string{"plan", "-C", dir, "--json"}, v...)...)
	if _, _, code := c.tend(nil, append([]string{"plan", "-C", dir, "-out", planFile}, v...)...); code != 0 {
		t.Errorf("plan -out: exit %d", code)
	}
	for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
		if _, _, code := c.tend(nil, append([]string{"show", "-C", dir, planFile}, f...)...); code != 0 {
			t.Errorf("show PLANFILE %v: exit %d", f, code)
		}
	}
	if pb, err := os.ReadFile(planFile); err != nil {
		t.Errorf("the saved plan: %v", err)
	} else {
		c.check("the saved plan", pb)
	}
	// The saved plan, then the configuration, fail at exec.fails, whose
	// stderr holds both canaries, and roll back.
	c.tend(nil, append([]string{"apply", planFile, "--json"}, v...)...)
	out, errOut, code := c.tend(envVar, "apply", "-C", dir, "-y")
	if code == 0 || !strings.Contains(out+errOut, "using (sensitive) and (sensitive)") {
		t.Errorf("apply: exit %d, want a failure showing exec.fails's stderr redacted", code)
	}
	c.tend(nil, append([]string{"apply", "-C", dir, "-y", "--json"}, v...)...)

	// With /var/lib/canary-ok, apply succeeds: the secrets reach the host.
	write(t, filepath.Join(h.Root, "var/lib/canary-ok"), "")
	out, _, code = c.tend(envVar, "apply", "-C", dir, "-y")
	if code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	id := ""
	if m := canaryRunRE.FindStringSubmatch(out); m != nil {
		id = m[1]
	} else if runs, err := journal.List(dir); err == nil && len(runs) > 0 {
		id = runs[len(runs)-1].ID
	}
	for path, want := range map[string]string{
		"etc/canary-raw":         c.secret,
		"etc/canary-app.conf":    "password = " + c.secret + "\n",
		"etc/canary-tpl.conf":    "pw = " + c.pw + "\ns = " + c.secret + "\n",
		"etc/cron.d/tend-canary": "PW=",
		"etc/shadow":             "canary:$6$cnry$" + c.secret + ":",
	} {
		p := filepath.Join(h.Root, path)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(got, []byte(want)) {
			t.Errorf("/%s on the host lacks %q: %v", path, want, err)
		}
		if fi, err := os.Stat(p); err == nil && path != "etc/shadow" && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("/%s holds a secret with mode %v", path, fi.Mode().Perm())
		}
	}
	if cron := read(t, filepath.Join(h.Root, "etc/cron.d/tend-canary")); !strings.Contains(cron, "* * * * * root /bin/sh%[ -n '"+c.secret+"' ]") {
		t.Errorf("the cron entry does not give its command to the shell on standard input:\n%s", cron)
	}
	// cron runs the command within a minute, while the sampler watches;
	// its shell stays a few seconds (sleep 3).
	ran := filepath.Join(h.Root, "var/lib/canary-cron-ran")
	for deadline := time.Now().Add(75 * time.Second); !exists(ran) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
	}
	if !exists(ran) {
		out, _ := l.Exec(1, "journalctl -u cron --no-pager | tail")
		t.Errorf("cron did not run the task within 75 s:\n%s", out)
	}
	time.Sleep(4 * time.Second)
	for _, p := range []string{"var/lib/canary-unless", "var/lib/canary-" + c.secret} {
		if _, err := os.Stat(filepath.Join(h.Root, p)); err != nil {
			t.Errorf("exec did not run: %v", err)
		}
	}

	// A hand change holding the secret: drift reports it in each format.
	write(t, filepath.Join(h.Root, "etc/canary-app.conf"), "password = "+c.secret+"-drifted\n")
	junit := filepath.Join(planDir, "drift.xml")
	for _, f := range [][]string{{"--format", "junit"}, {"--format", "json"}, nil} {
		args := append(append([]string{"drift", "-C", dir}, v...), f...)
		out, _, code := c.tend(nil, args...)
		if code == 0 {
			t.Errorf("drift %v: exit 0, want the drift reported", f)
		}
		if len(f) > 0 && f[1] == "junit" {
			write(t, junit, out)
		}
	}
	c.tend(nil, "runs", "-C", dir)
	if runs, err := journal.List(dir); err == nil {
		for _, r := range runs {
			for _, f := range [][]string{nil, {"--json"}, {"--format", "markdown"}} {
				if _, _, code := c.tend(nil, append([]string{"show", "-C", dir, r.ID}, f...)...); code != 0 {
					t.Errorf("show %s %v: exit %d", r.ID, f, code)
				}
			}
		}
	}
	c.tend(nil, "facts", "-C", dir)
	if id == "" {
		t.Error("no run to roll back")
	} else if _, _, code := c.tend(nil, "rollback", "-C", dir, id, "-y"); code != 0 {
		t.Errorf("rollback %s: exit %d", id, code)
	}
	if sh := read(t, filepath.Join(h.Root, "etc/shadow")); strings.Contains(sh, "canary:") {
		t.Errorf("rollback left the user canary in /etc/shadow")
	}

	// A previous content holding the secret: apply keeps it in the run's
	// backup directory on the host (by design), readable by root only;
	// rollback puts it back.
	handMade := "password = " + c.secret + "-by-hand\n"
	write(t, filepath.Join(h.Root, "etc/canary-app.conf"), handMade)
	if err := os.Chmod(filepath.Join(h.Root, "etc/canary-app.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = c.tend(envVar, "apply", "-C", dir, "-y")
	if m := canaryRunRE.FindStringSubmatch(out); code != 0 || m == nil {
		t.Errorf("apply over the hand-made file: exit %d", code)
	} else {
		backup := filepath.Join(h.Root, "var/lib/tend/backup", m[1])
		_ = filepath.WalkDir(backup, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 && (!d.IsDir() || p == backup) {
				t.Errorf("the backup %s has mode %v", strings.TrimPrefix(p, h.Root), fi.Mode().Perm())
			}
			return nil
		})
		if _, _, code := c.tend(nil, "rollback", "-C", dir, m[1], "-y"); code != 0 {
			t.Errorf("rollback %s: exit %d", m[1], code)
		}
		if got := read(t, filepath.Join(h.Root, "etc/canary-app.conf")); got != handMade {
			t.Errorf("rollback restored %q, want the hand-made content", got)
		}
	}

	// Diagnostics: the secret and a sensitive variable that are not
	// numbers.
	for _, config := range canaryDiagConfigs {
		diag := t.TempDir()
		write(t, filepath.Join(diag, "inventory.hcl"), read(t, inv))
		write(t, filepath.Join(diag, "main.hcl"), config)
		for _, args := range [][]string{
			{"validate", "-C", diag},
			{"plan", "-C", diag},
			{"plan", "-C", diag, "--json"},
		} {
			out, errOut, code := c.tend([]string{"TEND_VAR_port=" + c.pw}, args...)
			if code == 0 || !strings.Contains(out+errOut, "convert") && !strings.Contains(out+errOut, "a number is required") {
				t.Errorf("%v: exit %d, want the conversion error", args, code)
			}
		}
		diags = append(diags, diag)
	}

	// SIGKILL in the middle of an apply whose running exec carries the
	// secret.
	kill := t.TempDir()
	write(t, filepath.Join(kill, "inventory.hcl"), read(t, inv))
	write(t, filepath.Join(kill, "main.hcl"), canaryKillConfig)
	cmd := exec.Command(c.bin, "apply", "-C", kill, "-y")
	cmd.Env = append(os.Environ(), c.env...)
	var kout, kerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &kout, &kerr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	started := filepath.Join(h.Root, "var/tmp/canary-started")
	deadline := time.Now().Add(2 * time.Minute)
	for !exists(started) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !exists(started) {
		t.Errorf("exec.slow never started")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	c.check("the killed apply's stdout", kout.Bytes())
	c.check("the killed apply's stderr", kerr.Bytes())
	// What tend started (ssh) dies with the connection or stays; sample
	// while the host's exec runs to its end.
	time.Sleep(16 * time.Second)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	samples, procHits := sampler.finish()
	stopped = true
	t.Logf("%d samples of every process's command line", samples)
	seen := false
	for _, hit := range procHits {
		if strings.Contains(hit, control) {
			seen = true
			continue
		}
		t.Errorf("a command line holds the canary: %s", hit)
	}
	if !seen {
		t.Errorf("the sampler missed the control process %q", control)
	}

	// Files left on the host in temporary directories (read inside the
	// host: its /tmp and /dev/shm may be its own mounts), and anywhere
	// else tend could have put them.
	grepArgs := ""
	for _, n := range c.needles {
		grepArgs += " -e '" + n + "'"
	}
	hostTmp, err := l.Exec(1, "grep -rlF"+grepArgs+" /tmp /dev/shm /var/tmp /run 2>/dev/null; find /tmp /dev/shm /var/tmp /run -name '*"+mark[:4]+"["+mark[4:5]+"]"+mark[5:]+"*' 2>/dev/null; true")
	if err != nil {
		t.Error(err)
	}
	for _, line := range strings.Fields(hostTmp) {
		t.Errorf("after the killed apply, the host's %s holds the canary", line)
	}
	listing, _ := l.Exec(1, "ls -la /tmp /dev/shm /var/tmp 2>&1")
	t.Logf("the host's temporary directories:\n%s", listing)
	// The rest of the host: the managed files hold it by design; so do
	// the run's backups of them; anything else is a leak.
	for _, hit := range c.walk(h.Root, func(p string) bool {
		rel := strings.TrimPrefix(p, h.Root)
		for _, skip := range []string{"/proc", "/sys", "/dev", "/usr", "/lib", "/bin", "/sbin", "/boot"} {
			if rel == skip {
				return true
			}
		}
		return false
	}) {
		rel := strings.TrimPrefix(hit, h.Root)
		switch {
		case strings.HasPrefix(rel, "/etc/canary-raw: "):
			t.Logf("the managed file holding exactly the secret: %s", rel)
		case strings.HasPrefix(rel, "/etc/canary-app.conf: "):
			t.Logf("the hand-made file the last rollback restored: %s", rel)
		case strings.HasPrefix(rel, "/var/lib/tend/backup/"):
			t.Logf("a backup of a managed file's previous content holds the canary (by design): %s", rel)
		case strings.HasPrefix(rel, "/etc/shadow-: ") || strings.HasPrefix(rel, "/etc/shadow: "):
			// shadow's utilities keep the previous /etc/shadow
			// (root:shadow 0640) as /etc/shadow-.
			t.Logf("the host's shadow file or its backup holds the password hash: %s", rel)
		case strings.HasPrefix(rel, "/var/lib/canary-"+c.secret):
			t.Logf("exec.creates's file, named by the configuration: %s", rel)
		default:
			t.Errorf("the host's %s holds the canary", rel)
		}
	}
	// The controller: the configurations (.tend/ with the journal, the
	// facts cache), the saved plan and drift's JUnit report, the run
	// keys, and tend's TMPDIR; then the machine's /tmp outside labs.
	for _, root := range append([]string{dir, kill, planDir, keys, c.tmp}, diags...) {
		for _, hit := range c.walk(root, nil) {
			if strings.HasPrefix(hit, junit) {
				t.Errorf("drift's JUnit report holds the canary: %s", hit)
				continue
			}
			t.Errorf("the controller's %s holds the canary", hit)
		}
	}
	// Of the machine's /tmp (shared with other tests), what changed since
	// this test started, except labs (their hosts' roots, checked above
	// for this one) and tests' own directories (this test's checked above).
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		p := filepath.Join(os.TempDir(), e.Name())
		fi, err := e.Info()
		if err != nil || fi.ModTime().Before(begin) || strings.HasPrefix(e.Name(), "Test") || exists(filepath.Join(p, "id_ed25519")) {
			continue
		}
		for _, hit := range c.walk(p, nil) {
			t.Errorf("the controller's %s holds the canary", hit)
		}
	}
}
