package probe

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tendhq/tend/shell"
)

// PackagesID names the section of a probe script that reports installed
// package versions (see PackagesFragment).
const PackagesID = "facts.packages"

// CheckPackageName reports why name cannot be asked about: it is
// empty, starts with a hyphen (an option to the package tools), or holds
// a control character or a | (the probe's separator). Windows program
// names hold spaces and punctuation, so nothing else is refused; every
// name reaches the host quoted.
func CheckPackageName(name string) error {
	if name == "" {
		return fmt.Errorf("package name is empty")
	}
	if name[0] == '-' {
		return fmt.Errorf("package name %q starts with a hyphen", name)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f || r == '|' {
			return fmt.Errorf("package name %q holds %q", name, r)
		}
	}
	return nil
}

// PackagesFragment returns the probe fragment that reports the installed
// versions of the named packages, asking the host's package database the
// way its package manager does (dpkg-query, rpm -q, pacman -Q, apk's
// installed database), in one query for all names; on Windows, the
// DisplayVersion of the programs whose DisplayName is the name, from the
// registry's Uninstall keys (machine-wide, 64- and 32-bit). Names must
// pass CheckPackageName.
func PackagesFragment(names []string, windows bool) Fragment {
	if windows {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = shell.PSQuote(n)
		}
		return Fragment{ID: PackagesID, Script: fmt.Sprintf(`$names = @(%s)
$keys = @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*', 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*')
$items = @(Get-ItemProperty -Path $keys -ErrorAction SilentlyContinue)
for ($i = 0; $i -lt $names.Count; $i++) {
  $n = $names[$i]
  $v = @($items | Where-Object { $_.DisplayName -eq $n -and $_.DisplayVersion } | ForEach-Object { [string]$_.DisplayVersion })
  tendOut ('v' + $i) ($v -join "`+"`n"+`")
}
`, strings.Join(quoted, ", "))}
	}
	// The same order as the facts' package_manager: the first found
	// answers, as a host with rpm beside apt still installs with apt.
	s := shell.NewScript().Line(`m=
for c in apt-get dnf yum zypper apk pacman; do if command -v $c >/dev/null 2>&1; then m=$c; break; fi; done
case $m in
apt-get)`)
	s.Raw("  ").Inline(shell.Cmd("dpkg-query", "-W", `-f='${db:Status-Abbrev}|${Package}|${Version}\n'`).Operands(names...).Redirect("2>/dev/null")).
		Line(` |
  while IFS='|' read -r s n v; do case $s in ?[nc]*) ;; *) printf 'pkg|%s|%s\n' "$n" "$v";; esac; done;;
dnf|yum|zypper)`)
	s.Raw("  ").Inline(shell.Cmd("rpm", "-q", "--qf", `'pkg|%{NAME}|%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`).Operands(names...).Redirect("2>/dev/null")).
		Line(";;\napk)")
	s.Raw("  ").Inline(shell.Cmd("awk").Opt("-v", "want= "+strings.Join(names, " ")+" ").Arg(apkInstalled).Flag("/lib/apk/db/installed").Redirect("2>/dev/null")).
		Line(";;\npacman)")
	s.Raw("  ").Inline(shell.Cmd("pacman", "-Q").Operands(names...).Redirect("2>/dev/null")).
		Line(` | while read -r n v; do printf 'pkg|%s|%s\n' "$n" "$v"; done;;
esac
return 0`)
	return Fragment{ID: PackagesID, Script: s.String()}
}

// apkInstalled is the awk program reading apk's database of installed
// packages (P:name, V:version lines per package) for the names in want,
// a space-separated list with a space at each end.
const apkInstalled = `/^P:/ { p = substr($0, 3) } /^V:/ { if (index(want, " " p " ")) print "pkg|" p "|" substr($0, 3) }`

// Packages reads the installed versions of the named packages from a
// probe result holding PackagesFragment's section: for each name, every
// version installed (none when it is not; several when a package
// manager keeps more than one, as rpm does for kernels), in the order
// the host listed them.
func Packages(res *Result, names []string, windows bool) (map[string][]string, error) {
	if msg, failed := res.Failed[PackagesID]; failed {
		return nil, fmt.Errorf("reading installed packages: %s", msg)
	}
	o, ok := res.Outputs[PackagesID]
	if !ok {
		return nil, fmt.Errorf("probe output has no section for installed packages")
	}
	out := make(map[string][]string, len(names))
	for _, n := range names {
		out[n] = nil
	}
	if windows {
		for i, n := range names {
			for _, v := range strings.Split(o.Values["v"+strconv.Itoa(i)], "\n") {
				if v = strings.TrimSpace(v); v != "" {
					out[n] = append(out[n], v)
				}
			}
		}
		return out, nil
	}
	for _, line := range strings.Split(o.Other, "\n") {
		rest, ok := strings.CutPrefix(line, "pkg|")
		if !ok {
			continue
		}
		n, v, ok := strings.Cut(rest, "|")
		if _, asked := out[n]; !ok || !asked || v == "" {
			continue
		}
		out[n] = append(out[n], v)
	}
	return out, nil
}
