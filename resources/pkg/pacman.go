package pkg

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tendhq/tend/shell"
)

// pacman is Arch Linux's package manager. Versions are
// "[epoch:]pkgver-pkgrel" ("1.0-1"). A pacman repository offers one
// version of a package; older versions come from the package cache
// (/var/cache/pacman/pkg), which is how a pin to an older version and a
// revert of an upgrade are installed (pacman -U).
type pacman struct{}

func (pacman) id() string      { return "pacman" }
func (pacman) command() string { return "pacman" }

// paths returns pacman with its options for root, its lock file and its
// cache directory ("" when pacman-conf must be asked).
func (pacman) paths(root string) (cmd *shell.Command, lock, cache string) {
	cmd = shell.Cmd("pacman")
	if root == "" {
		return cmd, "/var/lib/pacman/db.lck", ""
	}
	r := strings.TrimSuffix(root, "/")
	cmd.Opt("--root", r+"/").Opt("--dbpath", r+"/var/lib/pacman/").Opt("--cachedir", r+"/var/cache/pacman/pkg/").
		Opt("--config", r+"/etc/pacman.conf").Opt("--logfile", r+"/var/log/pacman.log").Opt("--gpgdir", r+"/etc/pacman.d/gnupg/")
	return cmd, r + "/var/lib/pacman/db.lck", r + "/var/cache/pacman/pkg/"
}

// cacheDirSh sets c to pacman's cache directory: cache, or what
// pacman-conf says when cache is "".
func cacheDirSh(s *shell.Script, cache string) {
	if cache == "" {
		s.Raw("c=$(pacman-conf CacheDir 2>/dev/null)")
	} else {
		s.Raw("c=").Word("", cache, "")
	}
	s.Raw(`; c=${c%%"$nl"*}; c=${c:-/var/cache/pacman/pkg/}` + "\n")
}

func (p pacman) installedSh(root string) string {
	cmd, _, _ := p.paths(root)
	return shell.NewScript().Raw("v=$(").Inline(cmd.Flag("-Q").VarOperand("n").Redirect("2>/dev/null")).
		Raw(`) && v=${v#* } || v=; v=${v%%"$nl"*}` + "\n").String()
}

// namedSh asks the local database for the packages named; pacman says
// on stderr which it does not have, and fails.
func (p pacman) namedSh(root string, names []string) string {
	cmd, _, _ := p.paths(root)
	return cmd.Flag("-Q").Operands(names...).String()
}

func (pacman) namedArms() string {
	return `"error: package '"*"' was not found") tend_pkg_miss=1; continue;;
*" "*) ;;
`
}

// indexSh asks the sync databases (pacman -Si; the first repository
// listing the package wins, as for pacman -S) and lists the package
// cache's files of the package.
func (p pacman) indexSh(root string) string {
	cmd, _, cache := p.paths(root)
	s := shell.NewScript().Run(shell.Cmd("q").Wrap(cmd.Flag("-Si").VarOperand("n")))
	cacheDirSh(s, cache)
	s.Line(`i=0; for f in "${c%/}/$n"-*.pkg.tar*; do case $f in *.sig) continue;; esac; [ -e "$f" ] || continue; i=$((i+1)); out "cache.$i" "${f##*/}"; done`)
	return s.String()
}

// parseIndex reads pacman -Si ("Version         : 2.0-1"); a package
// unknown to the sync databases is "error: package 'x' was not found".
// Cached package files (out.Cache) add the versions they hold.
func (pacman) parseIndex(out queryOutput, installed string) (*index, error) {
	txt := out.text()
	ix := &index{}
	if out.Status != 0 && !strings.Contains(txt, "was not found") {
		return nil, fmt.Errorf("pacman -Si failed: %s", words(txt, 10))
	}
	for _, l := range out.Lines {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "Version" {
			v = strings.TrimSpace(v)
			if ix.Candidate == "" {
				ix.Candidate = v
			}
			ix.Available = append(ix.Available, v)
		}
	}
	ix.Candidate = withInstalled(ix.Candidate, installed)
	return ix, nil
}

var pkgFileRE = regexp.MustCompile(`^(.+)-([^-]+)-([^-]+)-([^-]+)\.pkg\.tar(\.[a-z0-9]+)?$`)

// cachedVersion returns the version of a package file named
// NAME-PKGVER-PKGREL-ARCH.pkg.tar.EXT when it is a file of package name.
func cachedVersion(name, file string) (string, bool) {
	m := pkgFileRE.FindStringSubmatch(file)
	if m == nil || m[1] != name {
		return "", false
	}
	return m[2] + "-" + m[3], true
}

func (pacman) matches(pin, v string) bool { return pin == v }
func (pacman) partialPins() bool          { return false }
func (pacman) env() string                { return "" }

// snapshotSh: pacman -Q fails when no package is installed (a new
// installroot); that is an empty list only when the local database holds
// no package, never when it does (an empty "before" list taken for a
// real one would make every package look installed by the change).
func (p pacman) snapshotSh(root string) string {
	cmd, _, _ := p.paths(root)
	db := "/var/lib/pacman"
	if root != "" {
		db = strings.TrimSuffix(root, "/") + db
	}
	return shell.NewScript().Raw("{ ").Inline(cmd.Flag("-Q").Or(shell.Not(shell.Cmd("ls", "-d").Word("", db, "/local/*/").Redirect(">/dev/null 2>&1")))).Raw("; }").String()
}

// refreshSh synchronizes the package databases (-Sy). On Arch, installing
// after -Sy without upgrading the system (-Su) is a partial upgrade; it
// is done only when update_cache asks for it or a package is missing.
func (p pacman) refreshSh(root string) string {
	cmd, lock, _ := p.paths(root)
	return lockWait(shell.NewScript(), lock).Run(cmd.Flag("--noconfirm", "-Sy")).String()
}

// txnSh: pacman cannot install and remove in one transaction, nor install
// from repositories and files in one: -S for packages from the
// repositories, -U for older versions from the cache, -R for removals,
// each run only when the previous succeeded. pacman fails at once when
// another holds its lock, so it is waited for (60 s at most).
func (p pacman) txnSh(root string, ops []op) string {
	_, lock, cache := p.paths(root)
	pacmanCmd := func() *shell.Command { c, _, _ := p.paths(root); return c }
	var sync, files, remove []string
	s := lockWait(shell.NewScript(), lock)
	for _, o := range ops {
		switch {
		case o.Kind == opRemove:
			remove = append(remove, o.Name)
		case o.Kind == opVersion && o.Version != o.Candidate:
			files = append(files, o.Name+"-"+o.Version)
		default:
			sync = append(sync, o.Name)
		}
	}
	// Names cannot start with "-" (Desired refuses them): no "--".
	var cmd *shell.Command
	then := func(c *shell.Command) {
		if cmd == nil {
			cmd = c
		} else {
			cmd = cmd.And(c)
		}
	}
	if len(sync) > 0 {
		then(pacmanCmd().Flag("--noconfirm", "-S", "--needed").Arg(sync...))
	}
	if len(files) > 0 {
		cacheDirSh(s, cache)
		s.Line("set --")
		for _, f := range files {
			s.Raw("x=; for f in ").Word(`"${c%/}/"`, f, "-*.pkg.tar*").Line(`; do case $f in *.sig) continue;; esac; [ -e "$f" ] && x=$f; done`)
			s.Raw(`[ -n "$x" ] || { echo `).Word(`"error: no package file for "`, f, `" in the cache $c"`).Line(` >&2; exit 1; }`)
			s.Line(`set -- "$@" "$x"`)
		}
		then(pacmanCmd().Flag("--noconfirm", "-U", `"$@"`))
	}
	if len(remove) > 0 {
		then(pacmanCmd().Flag("--noconfirm", "-R").Arg(remove...))
	}
	if cmd == nil {
		return s.Line("").String()
	}
	return s.Run(cmd).String()
}

func (pacman) stale(log string, status int) bool {
	return containsAny(log, "target not found", "failed retrieving file", "404")
}
