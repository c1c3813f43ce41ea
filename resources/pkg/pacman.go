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

// paths returns pacman's options for root, its lock file and its cache
// directory ("" when pacman-conf must be asked).
func (pacman) paths(root string) (opts, lock, cache string) {
	if root == "" {
		return "", "/var/lib/pacman/db.lck", ""
	}
	r := strings.TrimSuffix(root, "/")
	q := func(p string) string { return shell.Quote(r + p) }
	opts = " --root " + q("/") + " --dbpath " + q("/var/lib/pacman/") + " --cachedir " + q("/var/cache/pacman/pkg/") +
		" --config " + q("/etc/pacman.conf") + " --logfile " + q("/var/log/pacman.log") + " --gpgdir " + q("/etc/pacman.d/gnupg/")
	return opts, r + "/var/lib/pacman/db.lck", r + "/var/cache/pacman/pkg/"
}

func (p pacman) installedSh(root string) string {
	opts, _, _ := p.paths(root)
	return `v=$(pacman` + opts + ` -Q -- "$n" 2>/dev/null) && v=${v#* } || v=; v=${v%%"$nl"*}
`
}

// namedSh asks the local database for the packages named; pacman says
// on stderr which it does not have, and fails.
func (p pacman) namedSh(root string, names []string) string {
	opts, _, _ := p.paths(root)
	return "pacman" + opts + " -Q -- " + shell.Join(names...)
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
	opts, _, cache := p.paths(root)
	c := shell.Quote(cache)
	if cache == "" {
		c = `$(pacman-conf CacheDir 2>/dev/null)`
	}
	return "q pacman" + opts + ` -Si -- "$n"
c=` + c + `; c=${c%%"$nl"*}; c=${c:-/var/cache/pacman/pkg/}
i=0; for f in "${c%/}/$n"-*.pkg.tar*; do case $f in *.sig) continue;; esac; [ -e "$f" ] || continue; i=$((i+1)); out "cache.$i" "${f##*/}"; done
`
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
	opts, _, _ := p.paths(root)
	db := "/var/lib/pacman"
	if root != "" {
		db = strings.TrimSuffix(root, "/") + db
	}
	return "{ pacman" + opts + " -Q || ! ls -d " + shell.Quote(db) + "/local/*/ >/dev/null 2>&1; }"
}

// refreshSh synchronizes the package databases (-Sy). On Arch, installing
// after -Sy without upgrading the system (-Su) is a partial upgrade; it
// is done only when update_cache asks for it or a package is missing.
func (p pacman) refreshSh(root string) string {
	opts, lock, _ := p.paths(root)
	return lockWait(lock) + "pacman" + opts + " --noconfirm -Sy\n"
}

// txnSh: pacman cannot install and remove in one transaction, nor install
// from repositories and files in one: -S for packages from the
// repositories, -U for older versions from the cache, -R for removals,
// each run only when the previous succeeded. pacman fails at once when
// another holds its lock, so it is waited for (60 s at most).
func (p pacman) txnSh(root string, ops []op) string {
	opts, lock, cache := p.paths(root)
	var sync, files, remove []string
	var sb strings.Builder
	sb.WriteString(lockWait(lock))
	c := shell.Quote(cache)
	if cache == "" {
		c = `$(pacman-conf CacheDir 2>/dev/null)`
	}
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
	var cmds []string
	if len(sync) > 0 {
		cmds = append(cmds, "pacman"+opts+" --noconfirm -S --needed "+shell.Join(sync...))
	}
	if len(files) > 0 {
		fmt.Fprintf(&sb, "c=%s; c=${c%%%%\"$nl\"*}; c=${c:-/var/cache/pacman/pkg/}\nset --\n", c)
		for _, f := range files {
			fmt.Fprintf(&sb, "x=; for f in \"${c%%/}/\"%s-*.pkg.tar*; do case $f in *.sig) continue;; esac; [ -e \"$f\" ] && x=$f; done\n"+
				"[ -n \"$x\" ] || { echo \"error: no package file for \"%s\" in the cache $c\" >&2; exit 1; }\nset -- \"$@\" \"$x\"\n",
				shell.Quote(f), shell.Quote(f))
		}
		cmds = append(cmds, "pacman"+opts+" --noconfirm -U \"$@\"")
	}
	if len(remove) > 0 {
		cmds = append(cmds, "pacman"+opts+" --noconfirm -R "+shell.Join(remove...))
	}
	sb.WriteString(strings.Join(cmds, " &&\n") + "\n")
	return sb.String()
}

func (pacman) stale(log string, status int) bool {
	return containsAny(log, "target not found", "failed retrieving file", "404")
}
