package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tendhq/tend/integration/lab"
	"github.com/tendhq/tend/integration/testrepo"
)

// benchPackages are installed on one lab host with apt and copied to the
// others: python3 (Ansible's modules need it; tend never does) and
// python3-apt (Ansible's apt module needs it, and would otherwise install
// it on first use, from the network, in the middle of a timed run).
var benchPackages = []string{"python3", "python3-apt"}

// W1's packages come from a local apt repository (integration/testrepo),
// the hosts' only package source during the benchmark: installing them
// costs apt's and dpkg's work but never a download, for both tools alike.
// tend-dep is the package W1 wants absent; resetScript installs it.
var repoPackages = []testrepo.Pkg{
	{Name: "tend-hello", Version: "1.0"},
	{Name: "tend-other", Version: "1.0"},
	{Name: "tend-dep", Version: "1.0"},
}

// ansible reports whether Ansible is among the tools timed.
func (b *bench) ansible() bool {
	return contains(b.opts.tools, "ansible") || contains(b.opts.tools, "ansible-facts")
}

// eachHost runs f for hosts 1..n, at most 8 at once, and joins the errors.
func eachHost(n int, f func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i-1] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepareHosts makes the lab's hosts ready for both tools: sshd logs every
// session (LogLevel VERBOSE) so the benchmark can count them, python3 is
// installed when Ansible is among the tools, and the local apt repository of W1's packages is the hosts'
// only package source.
func (b *bench) prepareHosts(ctx context.Context) error {
	n := len(b.lab.Hosts)
	if err := eachHost(n, func(i int) error {
		h := b.lab.Host(i)
		conf := "# tend benchmark (integration/bench): log each session, to count them.\nLogLevel VERBOSE\n"
		if err := os.WriteFile(filepath.Join(h.Root, "etc/ssh/sshd_config.d/zz-bench.conf"), []byte(conf), 0o644); err != nil {
			return err
		}
		return b.lab.ReloadSSH(ctx, i)
	}); err != nil {
		return fmt.Errorf("sshd logging: %w", err)
	}
	tarball := ""
	if b.ansible() {
		var err error
		if tarball, err = b.packageCache(ctx); err != nil {
			return err
		}
	}
	repo := filepath.Join(b.tmp, "repo")
	if err := testrepo.BuildApt(repo, repoPackages...); err != nil {
		return err
	}
	return eachHost(n, func(i int) error {
		h := b.lab.Host(i)
		if tarball != "" && i != 1 {
			cmd := exec.CommandContext(ctx, "tar", "-C", h.Root, "-xpf", tarball)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: unpack python3: %v: %s", h.Name, err, out)
			}
		}
		if err := testrepo.InstallApt(b.lab, i, repo); err != nil {
			return err
		}
		if tarball == "" {
			return nil
		}
		if _, err := b.lab.ExecContext(ctx, i, "python3 -c 'import apt, json' && ldconfig"); err != nil {
			return fmt.Errorf("%s: python3 not usable: %w", h.Name, err)
		}
		return nil
	})
}

// packageCache installs benchPackages on host 1 with apt (from Debian's
// registry) and packs the files they added into a tarball kept in the
// lab's cache directory, keyed by the base image's package database, so
// that later benchmarks (and the other hosts) unpack it instead of running
// dpkg 50 times. It returns the tarball.
func (b *bench) packageCache(ctx context.Context) (string, error) {
	h := b.lab.Host(1)
	status, err := os.ReadFile(filepath.Join(h.Root, "var/lib/dpkg/status"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(status, strings.Join(benchPackages, " ")...))
	dir := filepath.Join(lab.DefaultCacheDir, "bench-"+hex.EncodeToString(sum[:6]))
	tarball := filepath.Join(dir, "python3.tar")
	if _, err := os.Stat(tarball); err == nil {
		b.logf("python3 from cache %s", dir)
		cmd := exec.CommandContext(ctx, "tar", "-C", h.Root, "-xpf", tarball)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("unpack python3: %v: %s", err, out)
		}
		return tarball, nil
	}
	b.logf("installing %s on %s with apt (once; cached in %s)", strings.Join(benchPackages, " "), h.Name, dir)
	script := `set -e
export DEBIAN_FRONTEND=noninteractive
dpkg-query -W -f='${Package}\n' | sort > /root/.bench-before
n=0
until apt-get install -y -q --no-install-recommends ` + strings.Join(benchPackages, " ") + ` >/root/.bench-apt.log 2>&1; do
	n=$((n+1)); [ $n -lt 4 ] || { cat /root/.bench-apt.log >&2; exit 1; }
	apt-get update -q >/dev/null 2>&1 || true; sleep $((n*5))
done
dpkg-query -W -f='${Package}\n' | sort > /root/.bench-after
new=$(comm -13 /root/.bench-before /root/.bench-after)
{
	for p in $new; do
		dpkg -L "$p" | while IFS= read -r f; do [ -d "$f" ] || printf '%s\n' "$f"; done
		for f in /var/lib/dpkg/info/"$p".* /var/lib/dpkg/info/"$p":*; do [ -e "$f" ] && printf '%s\n' "$f"; done
	done
	# Byte-compiled modules (made by postinst) and state dpkg and ld.so keep.
	find /usr/lib/python3 /usr/lib/python3.* -name '*.pyc'
	printf '%s\n' /var/lib/dpkg/status /var/lib/dpkg/available /etc/ld.so.cache
	find /etc/alternatives -newer /root/.bench-before
} | sed 's|^/||' | sort -u > /root/.bench-files
tar -C / -cpf /root/.bench-python3.tar --no-recursion -T /root/.bench-files
rm -f /root/.bench-before /root/.bench-after /root/.bench-files
`
	if _, err := b.lab.ExecContext(ctx, 1, script); err != nil {
		return "", fmt.Errorf("install python3 on %s: %w", h.Name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(h.Root, "root/.bench-python3.tar")
	if out, err := exec.CommandContext(ctx, "mv", src, tarball+".tmp").CombinedOutput(); err != nil {
		return "", fmt.Errorf("keep python3 tarball: %v: %s", err, out)
	}
	if err := os.Rename(tarball+".tmp", tarball); err != nil {
		return "", err
	}
	return tarball, nil
}

// resetScript returns hosts to the state before any tool ran (the "fresh"
// scenario): no managed files, tasks or users, W1's packages removed but
// the one it wants absent installed, cron stopped and disabled.
func resetScript(w workload) string {
	s := `rm -rf /srv/bench-tend-* /srv/bench-ansible-* /srv/bench-floor-* /srv/bench-scp-* /var/lib/tend
rm -f /etc/cron.d/tend-bench-* /etc/cron.d/ansible-bench-* /etc/cron.d/floor-bench-*
`
	if w.kind == "w1" {
		s += `for u in tendu1 tendu2 ansu1 ansu2 flooru1 flooru2; do if id "$u" >/dev/null 2>&1; then userdel -r "$u" >/dev/null 2>&1 || userdel "$u"; fi; done
dpkg -r tend-hello tend-other >/dev/null 2>&1 || true
dpkg -s tend-dep >/dev/null 2>&1 || dpkg -i ` + testrepo.AptSourcePath + `/` + testrepo.DebFile(repoPackages[2]) + ` >/dev/null
systemctl disable --now cron >/dev/null 2>&1 || true
`
	}
	if w.kind == "big" {
		// scp writes into an existing directory, as tend's directory
		// resource makes its own.
		s += "mkdir -p -m 0755 " + w.dir("scp") + "\n"
	}
	return s + "true\n"
}

// seedW2 puts W2's files for tend on hosts 1..n as tend would (same
// content, mode 0644, owned by root), without running tend.
func (b *bench) seedW2(w workload, n int) error {
	return eachHost(n, func(i int) error {
		h := b.lab.Host(i)
		dir := filepath.Join(h.Root, w.dir("tend"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		for k := 0; k < w.files; k++ {
			p := filepath.Join(dir, fmt.Sprintf("f%03d.conf", k))
			if err := os.WriteFile(p, []byte(fmt.Sprintf("key%d = %s\n", k, h.Name)), 0o644); err != nil {
				return err
			}
			if err := os.Chmod(p, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// reset runs resetScript on hosts 1..n.
func (b *bench) reset(ctx context.Context, w workload, n int) error {
	return eachHost(n, func(i int) error {
		_, err := b.lab.ExecContext(ctx, i, resetScript(w))
		return err
	})
}

// drift changes one resource of the tool's on host 1: a line appended to
// its first file.
func (b *bench) drift(ctx context.Context, w workload, tool string) error {
	_, err := b.lab.ExecContext(ctx, 1, "echo drifted >> "+w.dir(tool)+"/"+w.firstFile())
	return err
}

// sessionCounter counts, from the hosts' sshd logs, the connections and
// sessions a run opened.
type sessionCounter struct {
	cursors []string
}

// startCount records where each host's sshd log ends.
func (b *bench) startCount(ctx context.Context, n int) (*sessionCounter, error) {
	c := &sessionCounter{cursors: make([]string, n)}
	err := eachHost(n, func(i int) error {
		out, err := b.lab.ExecContext(ctx, i, "journalctl -u ssh.service -n0 --show-cursor")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			if cur, ok := strings.CutPrefix(line, "-- cursor: "); ok {
				c.cursors[i-1] = cur
			}
		}
		if c.cursors[i-1] == "" {
			return fmt.Errorf("%s: no journal cursor in %q", b.lab.Host(i).Name, out)
		}
		return nil
	})
	return c, err
}

// finish counts what was logged since startCount, as means per host.
func (b *bench) finishCount(ctx context.Context, c *sessionCounter) (conns, execs, sftp float64, err error) {
	n := len(c.cursors)
	var mu sync.Mutex
	var tc, te, ts int
	err = eachHost(n, func(i int) error {
		out, err := b.lab.ExecContext(ctx, i, "journalctl -u ssh.service -o cat --after-cursor='"+c.cursors[i-1]+"'")
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		tc += strings.Count(out, "Accepted publickey for ")
		te += strings.Count(out, "Starting session: command ")
		ts += strings.Count(out, "Starting session: subsystem 'sftp'")
		return nil
	})
	return float64(tc) / float64(n), float64(te) / float64(n), float64(ts) / float64(n), err
}
