package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// DefaultCacheDir is where base images are cached between runs.
const DefaultCacheDir = "/var/cache/tend-lab"

// DefaultMirror is the Debian mirror debootstrap downloads from unless
// Options.Mirror or the TEND_LAB_MIRROR environment variable says otherwise.
const DefaultMirror = "http://deb.debian.org/debian"

// OpsUser is the unprivileged account on every lab host (uid and gid 1001,
// member of group sudo). It logs in with the lab's client key.
const OpsUser = "ops"

// OpsUID is OpsUser's uid and gid.
const OpsUID = 1001

// OpsSudoPassword is OpsUser's password. sudo asks for it on every call: the
// base sets timestamp_timeout=0, so `sudo -n` always fails for ops and
// become-with-password code paths are exercised for real.
const OpsSudoPassword = "tend-lab-sudo"

// baseFile is a file the recipe writes into the base image.
type baseFile struct {
	Content string
	Mode    fs.FileMode
}

// recipe is everything that determines a base image. Its hash names the
// cache directory, so changing any field (or bumping Version after changing
// prepare's code) builds a new image instead of reusing a stale one.
type recipe struct {
	Version  int
	Suite    string
	Variant  string
	Packages []string
	// Masked units are linked to /dev/null: they fail, slow boot, or touch
	// machine-wide state (sysctls, kernel modules, binfmt, /dev) that hosts
	// sharing one kernel must not change.
	Masked []string
	// MaskedGenerators are systemd generators disabled the same way: each
	// costs a process spawn on every boot, for hardware hosts do not have.
	MaskedGenerators []string
	Files            map[string]baseFile
	// Commands run in a chroot of the image, in order, after Files are written.
	Commands [][]string
}

// bookworm is the recipe of the systemd Debian 12 base.
func bookworm() recipe {
	return recipe{
		Version: 1,
		Suite:   "bookworm",
		Variant: "minbase",
		// acl and attr: getfacl/setfacl and getfattr/setfattr, with which
		// tend keeps a rewritten file's ACL and extended attributes.
		// openssl, which a Debian server has (the standard task), hashes
		// large files several times faster than sha256sum (the sysvinit
		// and OpenRC images have none; tend falls back to sha256sum).
		Packages: []string{"openssh-server", "sudo", "cron", "systemd", "systemd-sysv", "dbus", "iproute2", "procps", "acl", "attr", "openssl"},
		Masked: []string{
			// No consoles to log in on.
			"console-getty.service", "getty@tty1.service", "getty-static.service",
			// Machine-wide kernel state.
			"systemd-sysctl.service", "systemd-modules-load.service", "kmod-static-nodes.service",
			"modprobe@.service", "modprobe@configfs.service", "modprobe@dm_mod.service",
			"modprobe@drm.service", "modprobe@efi_pstore.service", "modprobe@fuse.service", "modprobe@loop.service",
			"systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount",
			"systemd-pstore.service", "systemd-journald-audit.socket",
			// /dev and /sys are the machine's (bind-mounted).
			"systemd-tmpfiles-setup-dev.service", "dev-hugepages.mount", "sys-kernel-debug.mount",
			"sys-kernel-tracing.mount", "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
			"systemd-remount-fs.service", "systemd-firstboot.service", "systemd-hwdb-update.service",
			// Work on the machine's disks or the network in the background.
			"fstrim.timer", "fstrim.service", "e2scrub_all.timer", "e2scrub_reap.service",
			"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
			// Boot time for nothing: the image's users exist, the journal is volatile.
			"systemd-sysusers.service", "systemd-journal-flush.service",
		},
		// Kept: systemd-fstab-generator and systemd-sysv-generator (packages
		// with only an init script), which tests may rely on.
		MaskedGenerators: []string{
			"systemd-cryptsetup-generator", "systemd-debug-generator", "systemd-getty-generator",
			"systemd-gpt-auto-generator", "systemd-hibernate-resume-generator",
			"systemd-integritysetup-generator", "systemd-rc-local-generator", "systemd-run-generator",
			"systemd-system-update-generator", "systemd-veritysetup-generator",
		},
		Files: map[string]baseFile{
			"etc/ssh/sshd_config.d/00-tend-lab.conf": {Mode: 0o644, Content: `# tend lab base (integration/lab): root logs in by key only; no reverse
# DNS lookups (no resolver answers for 127.0.10.N); room for many parallel
# connections and sessions from tests.
PermitRootLogin prohibit-password
UseDNS no
MaxStartups 200:30:400
MaxSessions 100
`},
			"etc/sudoers.d/tend-lab": {Mode: 0o440, Content: `# tend lab base (integration/lab): never cache sudo credentials, so every
# sudo asks for the password and "sudo -n" fails deterministically.
Defaults timestamp_timeout=0
`},
			"etc/systemd/journald.conf.d/tend-lab.conf": {Mode: 0o644, Content: `# tend lab base (integration/lab): keep the journal in memory and small.
[Journal]
Storage=volatile
RuntimeMaxUse=16M
`},
			"etc/hostname": {Mode: 0o644, Content: "tend-lab-base\n"},
		},
		Commands: [][]string{
			{"groupadd", "--gid", "1001", OpsUser},
			{"useradd", "--create-home", "--uid", "1001", "--gid", "1001", "--groups", "sudo",
				"--shell", "/bin/bash", "--comment", "tend lab operator", OpsUser},
			{"apt-get", "clean"},
		},
	}
}

// hash identifies the recipe; the first 12 hex digits name the cache dir.
func (r recipe) hash() string {
	data, err := json.Marshal(r) // map keys are sorted: stable
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// dirName is the cache directory's name, e.g. "base-bookworm-0123456789ab".
func (r recipe) dirName() string {
	return "base-" + r.Suite + "-" + r.hash()[:12]
}

// ensureBase returns the directory of the cached base image for r, building
// it first if needed. The image is built in a temporary directory next to
// the cache and renamed into place only when complete, so an interrupted
// build never leaves a broken cache; a flock serialises concurrent builders.
func ensureBase(ctx context.Context, r recipe, cacheDir, mirror string, logf func(string, ...any)) (string, error) {
	final := filepath.Join(cacheDir, r.dirName())
	if isDir(final) {
		return final, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", fmt.Errorf("base image %s is not cached and debootstrap is not installed (run integration/scripts/lab-deps.sh): %w", final, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, final+".lock", func() {
		logf("lab: waiting for another process building %s", final)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if isDir(final) {
		return final, nil
	}
	// Leftovers of an interrupted build of this recipe: we hold its lock,
	// so nobody is using them.
	stale, _ := filepath.Glob(final + ".tmp-*")
	for _, d := range stale {
		if err := removeTree(d); err != nil {
			return "", fmt.Errorf("remove interrupted build %s: %w", d, err)
		}
	}

	logf("lab: building base image %s (debootstrap %s, about a minute)", final, r.Suite)
	start := time.Now()
	var errs []error
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			delay := time.Duration(attempt-1) * 10 * time.Second
			logf("lab: base build attempt %d failed, retrying in %v: %v", attempt-1, delay, errs[len(errs)-1])
			select {
			case <-ctx.Done():
				return "", errors.Join(append(errs, ctx.Err())...)
			case <-time.After(delay):
			}
		}
		tmp, err := os.MkdirTemp(cacheDir, r.dirName()+".tmp-")
		if err != nil {
			return "", err
		}
		err = buildBase(ctx, r, tmp, filepath.Join(cacheDir, "debs"), mirror, final+".log")
		if err == nil {
			err = os.Rename(tmp, final)
		}
		if err == nil {
			logf("lab: built base image %s in %v", final, time.Since(start).Round(time.Second))
			return final, nil
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		if rmErr := removeTree(tmp); rmErr != nil {
			errs = append(errs, rmErr)
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("build base image %s: %w", final, errors.Join(errs...))
}

// buildBase runs debootstrap into dir and prepares the result.
func buildBase(ctx context.Context, r recipe, dir, debCache, mirror, logPath string) error {
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp made it 0700; it becomes "/"
		return err
	}
	if err := os.MkdirAll(debCache, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{
		"--variant=" + r.Variant,
		"--include=" + strings.Join(r.Packages, ","),
		"--cache-dir=" + debCache, // keeps the .debs: retries and recipe changes download nothing
		r.Suite, dir, mirror,
	}
	// In a PID namespace of its own whose init dies with us (--kill-child
	// and Pdeathsig below), so an interrupted build leaves no debootstrap
	// subshell or dpkg writing into a directory the next builder removes;
	// in a mount namespace of its own, so its /proc and /sys mounts in the
	// target vanish with it.
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--pid", "--mount", "--fork", "--kill-child", "--mount-proc", "debootstrap"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	// Pdeathsig fires when the forking thread exits: lock it for the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("debootstrap %s: %w\n%s", strings.Join(args, " "), err, tail(logPath, 15))
	}
	// debootstrap unmounts what it mounted in the target; be sure before
	// the directory becomes an overlay's lower layer.
	if err := unmountAll(dir); err != nil {
		return err
	}
	return prepareBase(ctx, r, dir)
}

// prepareBase turns a fresh debootstrap tree into the lab's base image.
func prepareBase(ctx context.Context, r recipe, dir string) error {
	for _, m := range []struct {
		dir   string
		names []string
	}{{"etc/systemd/system", r.Masked}, {"etc/systemd/system-generators", r.MaskedGenerators}} {
		if err := os.MkdirAll(filepath.Join(dir, m.dir), 0o755); err != nil {
			return err
		}
		for _, name := range m.names {
			p := filepath.Join(dir, m.dir, name)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.Symlink("/dev/null", p); err != nil {
				return fmt.Errorf("mask %s: %w", name, err)
			}
		}
	}
	for name, f := range r.Files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.Content), f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
	}
	for _, c := range r.Commands {
		if err := chroot(ctx, dir, "", c...); err != nil {
			return err
		}
	}
	if err := chroot(ctx, dir, OpsUser+":"+OpsSudoPassword+"\n", "chpasswd"); err != nil {
		return err
	}
	// Host keys are per lab host: the ones openssh-server's postinst made
	// would be shared by every host.
	keys, _ := filepath.Glob(filepath.Join(dir, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		path string
		uid  int
	}{{"root/.ssh", 0}, {"home/" + OpsUser + "/.ssh", OpsUID}} {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chown(p, d.uid, d.uid); err != nil {
			return err
		}
	}
	release := fmt.Sprintf("suite=%s\nrecipe=%s\nbuilt=%s\n", r.Suite, r.hash(), time.Now().UTC().Format(time.RFC3339))
	return os.WriteFile(filepath.Join(dir, "etc/tend-lab-release"), []byte(release), 0o644)
}

// chroot runs argv inside dir with stdin as its input.
func chroot(ctx context.Context, dir, stdin string, argv ...string) error {
	cmd := exec.CommandContext(ctx, "chroot", append([]string{dir}, argv...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chroot %s %s: %w: %s", dir, strings.Join(argv, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", path, strings.Join(lines, "\n"))
}
