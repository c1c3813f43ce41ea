package pkg

import (
	"fmt"
	"strings"

	"github.com/tendhq/tend/shell"
)

// apk is Alpine Linux's package manager. Versions are "pkgver-rN"
// ("1.36.1-r15"). apk cannot run on the machines tend is developed on,
// so its commands and parsing are tested against recorded output.
type apk struct{}

func (apk) id() string      { return "apk" }
func (apk) command() string { return "apk" }

func (apk) cmd(root string) *shell.Command {
	c := shell.Cmd("apk")
	if root != "" {
		c.Opt("--root", root)
	}
	return c
}

// installedSh: `apk -v info -e NAME` prints "NAME-VERSION" when the
// package is installed and fails otherwise; it reads only the installed
// database.
func (a apk) installedSh(root string) string {
	return shell.NewScript().Raw("v=$(").Inline(a.cmd(root).Flag("-v", "info", "-e").VarOperand("n").Redirect("2>/dev/null")).
		Raw(`) && v=${v%%"$nl"*} && v=${v#"$n"-} || v=` + "\n").String()
}

// namedSh reads the installed database for the packages named; it
// prints nothing for one not installed.
func (apk) namedSh(root string, names []string) string {
	return shell.Cmd("awk").Opt("-v", "w="+" "+strings.Join(names, " ")+" ").
		Flag(`'/^P:/{n=substr($0,3)} /^V:/{if (index(w, " " n " ")) print "tend:" n " " substr($0,3)}'`).
		Arg(apkDB(root)).String()
}

func (apk) namedArms() string { return "tend:*) tend_pkg_l=${tend_pkg_l#tend:};;\n" }

func (a apk) indexSh(root string) string {
	return shell.NewScript().Run(shell.Cmd("q").Wrap(a.cmd(root).Flag("policy").VarOperand("n"))).String()
}

// parseIndex reads apk policy (apk-tools 2.x and 3.x print the same):
//
//	tend-hello policy:
//	  1.0-r0:
//	    lib/apk/db/installed
//	    https://dl-cdn.alpinelinux.org/alpine/v3.19/main
//	  2.0-r0:
//	    https://dl-cdn.alpinelinux.org/alpine/v3.19/main
//	    @edge https://dl-cdn.alpinelinux.org/alpine/edge/main
//
// Versions come in ascending order. A version is available when an
// untagged repository offers it (a tagged one, "@edge URL", is used only
// when the world asks for the tag); the candidate is the last available
// one, or the installed one when it comes later (latest never
// downgrades).
func (apk) parseIndex(out queryOutput, installed string) (*index, error) {
	if out.Status != 0 {
		return nil, fmt.Errorf("apk policy failed: %s", words(out.text(), 10))
	}
	ix := &index{}
	cur := ""
	var order []string
	for _, l := range out.Lines {
		switch {
		case strings.HasPrefix(l, "    "):
			src := strings.TrimSpace(l)
			if cur == "" || src == "lib/apk/db/installed" || strings.HasSuffix(src, "/installed") && !strings.Contains(src, "://") || strings.HasPrefix(src, "@") {
				continue
			}
			ix.Available = append(ix.Available, cur)
		case strings.HasPrefix(l, "  ") && strings.HasSuffix(l, ":"):
			cur = strings.TrimSuffix(strings.TrimSpace(l), ":")
			order = append(order, cur)
		case strings.HasPrefix(l, "ERROR:"):
			return nil, fmt.Errorf("apk policy failed: %s", words(out.text(), 10))
		}
	}
	ix.Available = dedupe(ix.Available)
	if n := len(ix.Available); n > 0 {
		ix.Candidate = ix.Available[n-1]
	}
	pos := func(v string) int {
		for i, o := range order {
			if o == v {
				return i
			}
		}
		return -1
	}
	if installed != "" && (ix.Candidate == "" || pos(installed) > pos(ix.Candidate)) {
		ix.Candidate = installed
	}
	return ix, nil
}

func (apk) matches(pin, v string) bool { return pin == v }
func (apk) partialPins() bool          { return false }
func (apk) env() string                { return "" }

// snapshotSh reads the installed database directly: `apk info -v` joins
// name and version with a dash, which cannot be split reliably.
func (apk) snapshotSh(root string) string {
	return shell.Cmd("awk", `'/^P:/{n=substr($0,3)} /^V:/{print n" "substr($0,3)}'`).Arg(apkDB(root)).String()
}

// apkDB is the installed database under root.
func apkDB(root string) string {
	db := "/lib/apk/db/installed"
	if root != "" {
		db = strings.TrimSuffix(root, "/") + db
	}
	return db
}

func (a apk) refreshSh(root string) string {
	return shell.NewScript().Run(a.cmd(root).Flag("--wait", "60", "update")).String()
}

// txnSh: `apk add` for installs (with -u when one asks for the latest
// version; a pin NAME=VERSION also constrains the world file, as apk
// does), then `apk del` for removals: apk has no command doing both.
// --wait bounds the wait for another apk's lock.
func (a apk) txnSh(root string, ops []op) string {
	var add, del []string
	for _, o := range ops {
		switch o.Kind {
		case opRemove:
			del = append(del, o.Name)
		case opVersion:
			add = append(add, o.Name+"="+o.Version)
		default:
			add = append(add, o.Name)
		}
	}
	var cmd *shell.Command
	if len(add) > 0 {
		cmd = a.cmd(root).Flag("--wait", "60", "add")
		if anyKind(ops, opLatest) {
			cmd.Flag("-u")
		}
		cmd.Operands(add...)
	}
	if len(del) > 0 {
		c := a.cmd(root).Flag("--wait", "60", "del").Operands(del...)
		if cmd == nil {
			cmd = c
		} else {
			cmd = cmd.And(c)
		}
	}
	if cmd == nil {
		return "\n"
	}
	return shell.NewScript().Run(cmd).String()
}

func (apk) stale(log string, status int) bool {
	return containsAny(log, "unable to select packages", "no such package", "404", "No such file or directory")
}
