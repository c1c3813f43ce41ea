package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// Hosts is how many hosts to boot (1 to 254); 0 means 1.
	Hosts int
	// Name prefixes the host names (Name+"1", Name+"2", ...) and the lab's
	// ID; it must be a lowercase DNS label of at most 20 characters.
	// Empty means "lab".
	Name string
	// BootTimeout bounds the wait for each host's sshd; 0 means 30 s.
	BootTimeout time.Duration
	// CacheDir holds the base image; empty means DefaultCacheDir.
	CacheDir string
	// Mirror is the Debian mirror for building the base image; empty means
	// $TEND_LAB_MIRROR, or DefaultMirror.
	Mirror string
	// Logf receives progress lines (base builds, boot times); nil discards
	// them. StartT passes t.Logf.
	Logf func(format string, args ...any)
	// Init is the hosts' init system: InitSystemd (the default, also for
	// ""), InitSysVinit or InitOpenRC, each booting its own base image
	// (see initsys.go).
	Init string
	// Packages are extra Debian packages the base image has installed
	// (e.g. DatabasePackages); each list is its own cached image.
	Packages []string
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

func (o Options) withDefaults() (Options, error) {
	if o.Hosts == 0 {
		o.Hosts = 1
	}
	if o.Hosts < 1 || o.Hosts > 254 {
		return o, fmt.Errorf("lab: Hosts = %d, want 1 to 254", o.Hosts)
	}
	if o.Name == "" {
		o.Name = "lab"
	}
	if !nameRE.MatchString(o.Name) {
		return o, fmt.Errorf("lab: Name %q is not a lowercase DNS label of at most 20 characters", o.Name)
	}
	if err := checkInit(o.Init); err != nil {
		return o, err
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 30 * time.Second
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.Mirror == "" {
		o.Mirror = os.Getenv("TEND_LAB_MIRROR")
	}
	if o.Mirror == "" {
		o.Mirror = DefaultMirror
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o, nil
}

// Host is one booted lab machine. Its fields are read-only for callers; PID
// changes on Restart and is 0 while the host is stopped.
type Host struct {
	// Name is the host's hostname and inventory name, e.g. "lab1".
	Name string
	// Address is where its sshd listens (port 22): 127.0.10.Index when this
	// is the only lab on the machine, another 127.0.10.X otherwise.
	Address string
	// Index is the host's 1-based position in Lab.Hosts, the argument of
	// Stop, Restart and Exec.
	Index int
	// Root is the host's root file system (its overlay's merged directory),
	// mounted on the controller so tests can inspect and plant files.
	Root string
	// PID is the host's init (systemd) as seen from outside its PID
	// namespace; 0 while stopped.
	PID int

	octet   int
	dir     string // per-host directory: upper, work, merged, logs, keys
	cgroup  string
	start   uint64 // PID's start time
	cmd     *exec.Cmd
	exited  chan struct{}
	console *console
	hostKey sshKey
}

// ConsoleLog is the file that receives what the host writes to /dev/console
// (systemd's status lines) in its current boot; the previous boot's is
// ConsoleLog()+".prev".
func (h *Host) ConsoleLog() string { return filepath.Join(h.dir, "console.log") }

// Lab is a set of running hosts. Close it (StartT does so for you).
type Lab struct {
	// Hosts are the lab's hosts, Hosts[i-1] having Index i.
	Hosts []*Host

	id      string
	dir     string
	base    string
	cgroup  string
	opts    Options
	spawner *spawner

	mu      sync.Mutex // serialises Start's boots, Stop, Restart and Close
	closed  bool
	life    context.Context // cancelled by Close, ending boots in progress
	endLife context.CancelFunc
	stateMu sync.Mutex // guards host PIDs against saveState
	owner   [2]uint64  // our PID and start time, for the state file
}

// Prepare builds the base image opts would boot (its init system and
// extra packages) unless it is cached, and boots nothing. CI prepares
// every image the tests use in the background while other tests run;
// Start waits for an image another process is building.
func Prepare(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	_, err = ensureBase(ctx, withPackages(baseRecipe(opts.Init), opts.Packages), opts.CacheDir, opts.Mirror, opts.Logf)
	return err
}

// Start boots a lab of opts.Hosts hosts in parallel and returns once every
// host's sshd answers. It builds the base image first if it is not cached
// (about a minute), and cleans up labs left behind by dead test processes.
// On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkMachine(); err != nil {
		return nil, err
	}
	begin := time.Now()
	base, err := ensureBase(ctx, withPackages(baseRecipe(opts.Init), opts.Packages), opts.CacheDir, opts.Mirror, opts.Logf)
	if err != nil {
		return nil, err
	}
	// Each systemd takes inotify instances; the default of 128 per user
	// stops the 23rd host from booting.
	if err := raiseSysctl("fs.inotify.max_user_instances", 8192); err != nil {
		return nil, fmt.Errorf("lab: raise fs.inotify.max_user_instances: %w", err)
	}
	if err := raiseSysctl("fs.inotify.max_user_watches", 524288); err != nil {
		return nil, fmt.Errorf("lab: raise fs.inotify.max_user_watches: %w", err)
	}
	cgroot, err := cgroup2Root()
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}

	l := &Lab{
		id:      opts.Name + "-" + randomHex(4),
		base:    base,
		opts:    opts,
		spawner: newSpawner(),
	}
	l.life, l.endLife = context.WithCancel(context.Background())
	l.cgroup = filepath.Join(cgroot, "tend-lab", l.id)
	pid := os.Getpid()
	st, err := procStartTime(pid)
	if err != nil {
		return nil, err
	}
	l.owner = [2]uint64{uint64(pid), st}

	if err := l.claim(ctx); err != nil {
		l.spawner.close()
		return nil, err
	}
	register(l)
	// Hold mu while booting: a Close from the signal handler cancels
	// l.life, which ends the boots, and then waits for them.
	l.mu.Lock()
	err = l.setup(ctx)
	l.mu.Unlock()
	if err != nil {
		return nil, errors.Join(err, l.Close())
	}
	opts.Logf("lab: %d host(s) up in %v (%s)", len(l.Hosts), time.Since(begin).Round(time.Millisecond), l.dir)
	return l, nil
}

// checkMachine fails early, with advice, where a lab cannot run.
func checkMachine() error {
	if os.Geteuid() != 0 {
		return errors.New("lab: must run as root (mounts, namespaces, cgroups)")
	}
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab: missing %s: run integration/scripts/lab-deps.sh", strings.Join(missing, ", "))
	}
	return nil
}

// requiredTools are run by the lab (debootstrap only to build the base).
var requiredTools = []string{"unshare", "nsenter", "mount", "umount", "pivot_root", "chroot", "ssh"}

// claim cleans stale labs, allocates addresses and directories, and writes
// the state file, all under the machine-wide lab lock.
func (l *Lab) claim(ctx context.Context) error {
	unlock, err := lockState(ctx)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer unlock()
	if err := cleanStaleLocked(); err != nil {
		l.opts.Logf("lab: cleaning stale labs: %v", err)
	}
	states, err := readStates()
	if err != nil {
		return err
	}
	octets, err := allocateOctets(states, l.opts.Hosts)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, o := range octets {
		if users := portListeners(o); len(users) > 0 {
			return fmt.Errorf("lab: cannot use 127.0.10.%d:22, it is taken and not by a lab host this machine knows of:\n  %s",
				o, strings.Join(users, "\n  "))
		}
	}
	dir, err := os.MkdirTemp("", "tend-"+l.id+"-")
	if err != nil {
		return err
	}
	if strings.ContainsAny(dir, ",:") || strings.ContainsAny(l.base, ",:") {
		os.Remove(dir)
		return fmt.Errorf("lab: overlayfs cannot take paths with ',' or ':' (%s, %s): set TMPDIR", dir, l.base)
	}
	if err := os.WriteFile(filepath.Join(dir, dirMarker), []byte(l.id+"\n"), 0o644); err != nil {
		return err
	}
	l.dir = dir
	for i, o := range octets {
		name := fmt.Sprintf("%s%d", l.opts.Name, i+1)
		hdir := filepath.Join(dir, name)
		l.Hosts = append(l.Hosts, &Host{
			Name:    name,
			Address: fmt.Sprintf("127.0.10.%d", o),
			Index:   i + 1,
			Root:    filepath.Join(hdir, "root"),
			octet:   o,
			dir:     hdir,
			cgroup:  filepath.Join(l.cgroup, name),
		})
	}
	return l.saveState()
}

// saveState writes the lab's state file from its current hosts.
func (l *Lab) saveState() error {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	st := &labState{
		ID:         l.id,
		OwnerPID:   int(l.owner[0]),
		OwnerStart: l.owner[1],
		Dir:        l.dir,
		Cgroup:     l.cgroup,
	}
	for _, h := range l.Hosts {
		st.Octets = append(st.Octets, h.octet)
		st.Hosts = append(st.Hosts, hostState{
			Name: h.Name, Address: h.Address, PID: h.PID, Start: h.start, Root: h.Root, Cgroup: h.cgroup,
		})
	}
	return writeState(st)
}

// setup writes keys, mounts overlays and boots every host in parallel.
func (l *Lab) setup(ctx context.Context) error {
	client, err := newSSHKey("tend-lab-" + l.id)
	if err != nil {
		return err
	}
	if err := writeKeyPair(l.ClientKeyFile(), client); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.dir, "boot.sh"), []byte(bootScriptFor(l.opts.Init)), 0o755); err != nil {
		return err
	}
	var known strings.Builder
	for _, h := range l.Hosts {
		if h.hostKey, err = newSSHKey("root@" + h.Name); err != nil {
			return err
		}
		fmt.Fprintf(&known, "%s %s\n", h.Address, publicKeyTypeAndData(h.hostKey.Public))
	}
	if err := os.WriteFile(l.KnownHostsFile(), []byte(known.String()), 0o644); err != nil {
		return err
	}
	for _, h := range l.Hosts {
		if err := l.prepareHost(h, client); err != nil {
			return fmt.Errorf("lab: prepare %s: %w", h.Name, err)
		}
	}
	l.opts.Logf("lab: prepared %d overlays", len(l.Hosts))

	errs := make([]error, len(l.Hosts))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.boot(ctx, h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepareHost mounts h's overlay and writes what makes it this host: name,
// machine ID, SSH host key, listen address, authorized keys.
func (l *Lab) prepareHost(h *Host, client sshKey) error {
	upper, work := filepath.Join(h.dir, "upper"), filepath.Join(h.dir, "work")
	for _, d := range []string{upper, work, h.Root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The merged root takes the upper directory's mode: "/" must be 0755.
	if err := os.Chmod(upper, 0o755); err != nil {
		return err
	}
	data := "lowerdir=" + l.base + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", h.Root, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount overlay on %s (%s): %w", h.Root, data, err)
	}
	hostKeyFile := l.HostKeyFile(h.Index)
	if err := writeKeyPair(hostKeyFile, h.hostKey); err != nil {
		return err
	}
	files := []struct {
		path    string
		content string
		mode    os.FileMode
		uid     int
	}{
		{"etc/hostname", h.Name + "\n", 0o644, 0},
		{"etc/hosts", fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", h.Address, h.Name), 0o644, 0},
		{"etc/machine-id", randomHex(16) + "\n", 0o444, 0},
		{"etc/ssh/ssh_host_ed25519_key", string(h.hostKey.Private), 0o600, 0},
		{"etc/ssh/ssh_host_ed25519_key.pub", h.hostKey.Public + "\n", 0o644, 0},
		{"etc/ssh/sshd_config.d/lab.conf", fmt.Sprintf("# tend lab host %s (integration/lab)\nListenAddress %s\nHostKey /etc/ssh/ssh_host_ed25519_key\n", h.Name, h.Address), 0o644, 0},
		{"root/.ssh/authorized_keys", client.Public + "\n", 0o600, 0},
		{"home/" + OpsUser + "/.ssh/authorized_keys", client.Public + "\n", 0o600, OpsUID},
	}
	for _, f := range files {
		p := filepath.Join(h.Root, f.path)
		_ = os.Remove(p) // machine-id is read-only in the base
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			return err
		}
		if err := os.Chown(p, f.uid, f.uid); err != nil {
			return err
		}
	}
	return nil
}

// Host returns the host with Index i (1-based), or nil.
func (l *Lab) Host(i int) *Host {
	if i < 1 || i > len(l.Hosts) {
		return nil
	}
	return l.Hosts[i-1]
}

func (l *Lab) host(i int) (*Host, error) {
	h := l.Host(i)
	if h == nil {
		return nil, fmt.Errorf("lab: no host %d (the lab has hosts 1 to %d)", i, len(l.Hosts))
	}
	return h, nil
}

// ID is the lab's unique name: its state file is /run/tend-lab/ID.json.
func (l *Lab) ID() string { return l.id }

// Dir is the lab's temporary directory (keys, known_hosts, overlays, logs).
func (l *Lab) Dir() string { return l.dir }

// KnownHostsFile is a known_hosts file listing every host's key for its
// address.
func (l *Lab) KnownHostsFile() string { return filepath.Join(l.dir, "known_hosts") }

// ClientKeyFile is the private key (mode 0600, OpenSSH format, ed25519) that
// root and ops accept on every host; the public key is beside it (".pub").
func (l *Lab) ClientKeyFile() string { return filepath.Join(l.dir, "id_ed25519") }

// HostKeyFile is the private SSH host key of host i (public key: ".pub").
func (l *Lab) HostKeyFile(i int) string {
	h := l.Host(i)
	if h == nil {
		return ""
	}
	return filepath.Join(h.dir, "ssh_host_ed25519_key")
}

// Stop kills host i's namespace init, and with it every process of the
// host, like pulling the plug, and waits until its address stops
// answering. Its file system stays, for Restart.
func (l *Lab) Stop(i int) error {
	h, err := l.host(i)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab: closed")
	}
	return l.stopHost(h)
}

// Restart boots host i again on the same file system (stopping it first if
// it runs), so what was written before persists as across a reboot; /run
// and /tmp start empty.
func (l *Lab) Restart(i int) error {
	h, err := l.host(i)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab: closed")
	}
	if err := l.stopHost(h); err != nil {
		return err
	}
	return l.boot(l.life, h)
}

// Exec runs a shell command as root inside host i (all of its namespaces,
// through nsenter: it works whatever state sshd is in) and returns its
// standard output. A non-zero exit is an error carrying its standard error.
func (l *Lab) Exec(i int, command string) (string, error) {
	return l.ExecContext(context.Background(), i, command)
}

// ExecContext is Exec with a context bounding the command.
func (l *Lab) ExecContext(ctx context.Context, i int, command string) (string, error) {
	h, err := l.host(i)
	if err != nil {
		return "", err
	}
	l.stateMu.Lock()
	pid, start := h.PID, h.start
	l.stateMu.Unlock()
	if pid == 0 {
		return "", fmt.Errorf("lab: host %s is not running", h.Name)
	}
	if !procAlive(pid, start) || zombie(pid) {
		// Killed behind the lab's back (a fault test): do not nsenter a
		// reused PID.
		return "", fmt.Errorf("lab: host %s is down: its init %d exited", h.Name, pid)
	}
	out, err := nsenter(ctx, pid, command)
	if err != nil {
		return out, fmt.Errorf("lab: exec on %s: %q: %w", h.Name, command, err)
	}
	return out, nil
}

// ReloadSSH reloads host i's sshd (after a change to its configuration)
// and returns once the new daemon listens. A reload re-executes sshd,
// which closes its listening socket for a moment some time after
// `systemctl reload` returns: waiting for the banner alone can meet the
// old daemon and have the next connection refused. sshd logs "Server
// listening on" each time it binds, so this waits for one more of those
// lines than before the reload.
func (l *Lab) ReloadSSH(ctx context.Context, i int) error {
	const script = `count() { journalctl -u ssh.service -o cat --no-pager | grep -c '^Server listening on '; }
n=$(count)
systemctl reload ssh.service || exit 1
i=0
while [ "$(count)" -le "$n" ]; do
  i=$((i+1))
  if [ "$i" -gt 300 ]; then echo "sshd does not listen again 30s after a reload" >&2; exit 1; fi
  sleep 0.1
done`
	_, err := l.ExecContext(ctx, i, script)
	return err
}

// SSHArgs returns the arguments for ssh(1) to log in to host i as user with
// the lab's key, checking the host key strictly against KnownHostsFile and
// ignoring the invoking user's ssh configuration. Append the remote command.
func (l *Lab) SSHArgs(i int, user string) []string {
	h := l.Host(i)
	if h == nil {
		return nil
	}
	return []string{
		"-F", "/dev/null",
		"-i", l.ClientKeyFile(),
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + l.KnownHostsFile(),
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10",
		"-o", "ControlPath=none",
		"-o", "LogLevel=ERROR",
		"-l", user,
		h.Address,
	}
}

// SSHCommand returns an *exec.Cmd running command on host i as user through
// the OpenSSH client (see SSHArgs); set Stdin, Stdout... before running it.
func (l *Lab) SSHCommand(ctx context.Context, i int, user, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "ssh", append(l.SSHArgs(i, user), "--", command)...)
}

// Close tears the lab down: kills every host (SIGKILL to each namespace's
// init kills all of its processes), unmounts the overlays (lazily if busy),
// removes the cgroups, the temporary directory and the state file. It only
// touches what this lab started. It is safe to call more than once.
func (l *Lab) Close() error {
	l.endLife()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	defer unregister(l)
	defer l.spawner.close()
	start := time.Now()
	// SIGKILL every host first so they die in parallel, then reap each.
	for _, h := range l.Hosts {
		if h.PID > 0 && procAlive(h.PID, h.start) {
			_ = syscall.Kill(h.PID, syscall.SIGKILL)
		}
	}
	var errs []error
	for _, h := range l.Hosts {
		if err := l.stopHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeCgroup(l.cgroup, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := removeLabDir(l.dir, l.id); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// Keep the state file: CleanStale finishes the job once we are gone.
		return fmt.Errorf("lab: close %s: %w", l.id, errors.Join(errs...))
	}
	if err := os.Remove(statePath(l.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l.opts.Logf("lab: %s closed in %v", l.id, time.Since(start).Round(time.Millisecond))
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
