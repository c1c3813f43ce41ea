// Package patch upgrades a host's packages through its package manager:
// list what would be upgraded (all, or security updates only), upgrade,
// report each package's version before and after, and tell whether the
// host asks for a reboot. apt, dnf/yum, zypper and pacman are supported,
// and on Windows hosts Chocolatey, or winget where Chocolatey is absent;
// others (apk) are refused with a clear error.
package patch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Upgrade is one package's version change.
type Upgrade struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Manager patches hosts of one package manager.
type Manager interface {
	// Pending refreshes the package index and lists the upgrades the host
	// would take.
	Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error)
	// Upgrade installs the given upgrades (all pending ones when
	// securityOnly is false) and returns what actually changed.
	Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error)
	// RebootRequired reports whether the host asks for a reboot.
	RebootRequired(ctx context.Context, t transport.Transport) (bool, error)
}

// Rebooter is implemented by managers whose hosts do not reboot the
// Linux way (BootID, RebootScript): Windows.
type Rebooter interface {
	// BootID identifies the host's current boot.
	BootID(ctx context.Context, t transport.Transport) (string, error)
	// RebootScript asks the host to reboot a moment after the command
	// returns.
	RebootScript() string
}

// For returns the manager for a package manager fact (apt, dnf, ...;
// chocolatey or msi on Windows hosts: msi, a host without Chocolatey, is
// patched through winget). Each call returns a new manager: use one per
// host.
func For(pm string) (Manager, error) {
	switch pm {
	case "apt":
		return Apt{}, nil
	case "dnf", "yum":
		return Dnf{Bin: pm}, nil
	case "zypper":
		return Zypper{}, nil
	case "pacman":
		return Pacman{}, nil
	case "chocolatey":
		return &Chocolatey{}, nil
	case "msi":
		// A Windows host without Chocolatey: winget, if it has one.
		return &Winget{}, nil
	case "":
		return nil, fmt.Errorf("no supported package manager found on the host")
	default:
		return nil, fmt.Errorf("tend patch does not support %s hosts yet (apt, dnf, yum, zypper, pacman and chocolatey)", pm)
	}
}

// Apt patches Debian-family hosts.
type Apt struct{}

const aptEnv = "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND\n"

const aptOpts = "-o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

// Pending implements Manager: apt-get update, then a simulated upgrade.
func (Apt) Pending(ctx context.Context, t transport.Transport, securityOnly bool) ([]Upgrade, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: aptEnv +
		"apt-get -q update " + aptOpts + " >/dev/null || exit 1\n" +
		"LC_ALL=C apt-get -s --with-new-pkgs upgrade " + aptOpts + "\n"})
	if err != nil {
		return nil, fmt.Errorf("listing upgrades: %w", err)
	}
	return parseSimulation(out, securityOnly), nil
}

// instRE matches apt-get -s's "Inst NAME [FROM] (TO ORIGINS [ARCH])".
var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+) ([^\[]*?)(?: \[[^\]]*\])?\)`)

// parseSimulation reads the upgrades from apt-get -s upgrade. With
// securityOnly, only those coming from a security archive count.
func parseSimulation(out []byte, securityOnly bool) []Upgrade {
	var ups []Upgrade
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := instRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if securityOnly && !strings.Contains(strings.ToLower(m[4]), "security") {
			continue
		}
		ups = append(ups, Upgrade{Name: m[1], From: m[2], To: m[3]})
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups
}

// Upgrade implements Manager.
func (Apt) Upgrade(ctx context.Context, t transport.Transport, pending []Upgrade, securityOnly bool) ([]Upgrade, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	var names []string
	for _, u := range pending {
		names = append(names, u.Name)
	}
	cmd := "apt-get -q -y " + aptOpts + " --with-new-pkgs upgrade"
	if securityOnly {
		cmd = "apt-get -q -y " + aptOpts + " install --only-upgrade " + shell.Join(names...)
	}
	if _, err := transport.Output(ctx, t, transport.Command{Script: aptEnv + cmd + " >/tmp/tend-patch.log 2>&1 || { tail -20 /tmp/tend-patch.log >&2; exit 1; }\n"}); err != nil {
		return nil, fmt.Errorf("upgrading: %w", err)
	}
	out, err := transport.Output(ctx, t, transport.Command{Script: "dpkg-query -W -f '${Package} ${Version}\\n' " + shell.Join(names...) + " 2>/dev/null; true\n"})
	if err != nil {
		return nil, fmt.Errorf("reading versions after the upgrade: %w", err)
	}
	now := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			now[f[0]] = f[1]
		}
	}
	var done []Upgrade
	for _, u := range pending {
		if v := now[u.Name]; v != "" && v != u.From {
			done = append(done, Upgrade{Name: u.Name, From: u.From, To: v})
		}
	}
	return done, nil
}

// RebootRequired implements Manager: Debian's /run/reboot-required flag.
func (Apt) RebootRequired(ctx context.Context, t transport.Transport) (bool, error) {
	res, err := t.Run(ctx, transport.Command{Script: "test -e /run/reboot-required || test -e /var/run/reboot-required"})
	if err != nil {
		return false, err
	}
	return res.ExitStatus == 0, nil
}

// BootID identifies the host's current boot: the kernel's boot_id, plus
// init's start time, which also changes when a container reboots.
func BootID(ctx context.Context, t transport.Transport) (string, error) {
	out, err := transport.Output(ctx, t, transport.Command{Script: "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"})
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(out)), "/"), nil
}

// RebootScript asks the host to reboot a moment after the command
// returns, so the command's own session ends cleanly.
const RebootScript = "nohup sh -c 'sleep 1; systemctl reboot || shutdown -r now || reboot' >/dev/null 2>&1 </dev/null &\n"
