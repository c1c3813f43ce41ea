package probe

import (
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// Facts describe a host, gathered by the facts section of its probe
// script. They are available to configuration as host.facts.
type Facts struct {
	OS struct {
		Family  string `json:"family"`  // debian, rhel, suse, arch, alpine, ...
		Name    string `json:"name"`    // os-release ID: debian, ubuntu, fedora, ...
		Version string `json:"version"` // os-release VERSION_ID
		Pretty  string `json:"pretty"`
	} `json:"os"`
	Kernel         string `json:"kernel"`
	Arch           string `json:"arch"`
	Hostname       string `json:"hostname"`
	CPUs           int    `json:"cpus"`
	MemoryMB       int    `json:"memory_mb"`
	Init           string `json:"init"`            // systemd, openrc, sysvinit, ...
	PackageManager string `json:"package_manager"` // apt, dnf, yum, apk, zypper, pacman
	User           string `json:"user"`            // who the scripts run as
	UID            int    `json:"uid"`
	Home           string `json:"home"`
	// BackupDir is where runs keep pre-change copies on this host.
	BackupDir string `json:"backup_dir"`
	// Packages holds the installed version of the packages a fleet
	// query asked about (nil: not installed), gathered with the facts
	// (see PackagesFragment); configuration does not see it.
	Packages map[string]*string `json:"packages,omitempty"`
}

// factsScript prints the facts as `out` lines. It sticks to POSIX sh and
// tools found on minimal systems, and runs in the probe script's own
// shell without starting a process where /proc, /sys and /etc/passwd
// answer (Linux): each process costs a host milliseconds. Elsewhere, or
// for a user only a name service knows, uname and id answer.
const factsScript = `if [ -r /etc/os-release ]; then . /etc/os-release; elif [ -r /usr/lib/os-release ]; then . /usr/lib/os-release; fi
out os_id "${ID:-}"; out os_like "${ID_LIKE:-}"; out os_version "${VERSION_ID:-}"; out os_pretty "${PRETTY_NAME:-}"
k= h= a=
if [ -r /proc/sys/kernel/arch ]; then read -r k < /proc/sys/kernel/ostype; read -r h < /proc/sys/kernel/hostname; read -r a < /proc/sys/kernel/arch; fi
if [ -z "$k" ] || [ -z "$h" ] || [ -z "$a" ]; then set -f; set -- $(uname -snm); set +f; k=$1 h=$2 a=$3; fi
out kernel "$k"; out hostname "$h"; out arch "$a"
c=
if [ -r /sys/devices/system/cpu/online ]; then
  read -r l < /sys/devices/system/cpu/online; c=0; IFS=,; set -f; set -- $l; set +f; IFS=' 	
'
  for r in "$@"; do case $r in *-*) c=$((c + ${r#*-} - ${r%-*} + 1));; [0-9]*) c=$((c + 1));; esac; done
  [ "$c" -gt 0 ] || c=
fi
[ -n "$c" ] || c=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)
out cpus "$c"
if [ -r /proc/meminfo ]; then while read -r k v l; do if [ "$k" = MemTotal: ]; then out memory_kb "$v"; break; fi; done < /proc/meminfo; fi
if [ -d /run/systemd/system ]; then out init systemd; elif command -v openrc >/dev/null 2>&1; then out init openrc; elif [ -d /etc/init.d ]; then out init sysvinit; else out init unknown; fi
for m in apt-get dnf yum zypper apk pacman; do if command -v $m >/dev/null 2>&1; then out pkg $m; break; fi; done
u= l=
if [ -r /proc/self/status ]; then while read -r k a l; do if [ "$k" = Uid: ]; then set -f; set -- $l; set +f; u=$1; break; fi; done < /proc/self/status; fi
if [ -n "$u" ]; then
  l=; while IFS=: read -r k a h l; do if [ "$h" = "$u" ]; then l=$k; break; fi; done < /etc/passwd
  [ -n "$l" ] || l=$(id -un 2>/dev/null)
else
  l=$(id); u=${l#uid=}; u=${u%%[!0-9]*}; l=${l#uid=$u}
  case $l in "("*) l=${l#"("}; l=${l%%")"*};; *) l=$(id -un 2>/dev/null);; esac
fi
out uid "$u"; out user "$l"; out home "${HOME:-}"
if [ "$u" = 0 ]; then out backup_dir /var/lib/tend/backup; else out backup_dir "${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/tend/backup"; fi
return 0
`

func parseFacts(o resources.ProbeOutput) Facts {
	var f Facts
	v := o.Values
	f.OS.Name = v["os_id"]
	f.OS.Version = v["os_version"]
	f.OS.Pretty = v["os_pretty"]
	f.OS.Family = family(v["os_id"], v["os_like"], v["kernel"])
	f.Kernel = strings.ToLower(v["kernel"])
	f.Arch = v["arch"]
	f.Hostname = v["hostname"]
	f.CPUs, _ = strconv.Atoi(v["cpus"])
	kb, _ := strconv.Atoi(v["memory_kb"])
	f.MemoryMB = kb / 1024
	f.Init = v["init"]
	f.PackageManager = strings.TrimSuffix(v["pkg"], "-get")
	f.User = v["user"]
	f.UID, _ = strconv.Atoi(v["uid"])
	f.Home = v["home"]
	f.BackupDir = v["backup_dir"]
	if f.Kernel == "windows" {
		// Windows names architectures its own way and has no numeric
		// user ids; keep host.facts comparable across a mixed fleet.
		switch strings.ToUpper(f.Arch) {
		case "AMD64":
			f.Arch = "x86_64"
		case "ARM64":
			f.Arch = "aarch64"
		case "X86":
			f.Arch = "i686"
		}
		f.UID = -1
	}
	return f
}

// family maps os-release's ID and ID_LIKE to a distribution family.
func family(id, like, kernel string) string {
	for _, w := range append([]string{id}, strings.Fields(like)...) {
		switch w {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn":
			return "rhel"
		case "suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed":
			return "suse"
		case "arch", "archlinux", "manjaro":
			return "arch"
		case "alpine":
			return "alpine"
		}
	}
	if id != "" {
		return id
	}
	return strings.ToLower(kernel)
}

// Value returns the facts as the cty object configuration sees as
// host.facts.
func (f Facts) Value() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"os": cty.ObjectVal(map[string]cty.Value{
			"family":  cty.StringVal(f.OS.Family),
			"name":    cty.StringVal(f.OS.Name),
			"version": cty.StringVal(f.OS.Version),
			"pretty":  cty.StringVal(f.OS.Pretty),
		}),
		"kernel":          cty.StringVal(f.Kernel),
		"arch":            cty.StringVal(f.Arch),
		"hostname":        cty.StringVal(f.Hostname),
		"cpus":            cty.NumberIntVal(int64(f.CPUs)),
		"memory_mb":       cty.NumberIntVal(int64(f.MemoryMB)),
		"init":            cty.StringVal(f.Init),
		"package_manager": cty.StringVal(f.PackageManager),
		"user":            cty.StringVal(f.User),
		"uid":             cty.NumberIntVal(int64(f.UID)),
		"home":            cty.StringVal(f.Home),
	})
}

// UnknownValue is host.facts before the facts are gathered: every fact
// unknown, with the right type, so configuration type-checks.
func UnknownValue() cty.Value {
	return cty.UnknownVal(Facts{}.Value().Type())
}
