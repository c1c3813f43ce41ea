package pkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// A transaction runs as one script: it lists the installed packages,
// refreshes the index if asked, makes the changes, lists the installed
// packages again, and prints what changed (comm -3 of the sorted lists)
// and the package manager's output. What changed is the truth about the
// transaction: each change is checked against it, and what the package
// manager did besides (dependencies installed, dependents removed) is
// recorded for the rollback.

const (
	markDiff = "\036tend-pkg:diff"
	markLog  = "\036tend-pkg:log"
	markNone = "\036tend-pkg:nodiff"
)

// txnScript builds the script of one transaction.
func txnScript(p provider, root string, ops []op, refresh bool) string {
	var sb strings.Builder
	sb.WriteString("LC_ALL=C; export LC_ALL\n")
	sb.WriteString(p.env())
	sb.WriteString(`nl='
'
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
snap() { ` + p.snapshotSh(root) + ` > "$1.raw" && sort "$1.raw" > "$1"; }
if ! snap "$t/before"; then echo "listing the installed packages failed" >&2; exit 1; fi
(
`)
	if refresh {
		// The changes run in a subshell: exit ends it, not the script.
		sb.WriteString(p.refreshSh(root))
		sb.WriteString("r=$?; if [ $r -ne 0 ]; then exit $r; fi\n")
	}
	sb.WriteString(p.txnSh(root, ops))
	sb.WriteString(`) > "$t/log" 2>&1 </dev/null
rc=$?
if snap "$t/after"; then
  printf '%s\n' '` + markDiff + `'
  printf '%s %s\n' $(wc -l < "$t/before") $(wc -l < "$t/after")
  comm -3 "$t/before" "$t/after"
else
  printf '%s\n' '` + markNone + `'
fi
printf '%s\n' '` + markLog + `'
cat "$t/log"
exit $rc
`)
	return sb.String()
}

// change is what a transaction did to the installed packages: lines
// "name version" that disappeared and appeared.
type change struct {
	Removed, Added map[string]bool
	Known          bool // false when the second listing failed
}

func newChange() *change {
	return &change{Removed: map[string]bool{}, Added: map[string]bool{}, Known: true}
}

// then composes c with a later change d (a retried transaction).
func (c *change) then(d *change) {
	c.Known = c.Known && d.Known
	for l := range d.Removed {
		if c.Added[l] {
			delete(c.Added, l)
		} else {
			c.Removed[l] = true
		}
	}
	for l := range d.Added {
		if c.Removed[l] {
			delete(c.Removed, l)
		} else {
			c.Added[l] = true
		}
	}
}

// versions returns the versions of name among lines.
func versions(lines map[string]bool, name string) []string {
	var vs []string
	for l := range lines {
		n, v, _ := strings.Cut(l, " ")
		if n == name || baseName(n) == name {
			vs = append(vs, v)
		}
	}
	sort.Strings(vs)
	return vs
}

// baseName drops a dpkg architecture qualifier ("libc6:i386").
func baseName(n string) string {
	if i := strings.IndexByte(n, ':'); i >= 0 {
		return n[:i]
	}
	return n
}

// txnResult is a transaction's outcome.
type txnResult struct {
	Change *change
	Log    string
	Status int
}

// runTxn runs one transaction script on the host.
func runTxn(ctx context.Context, h *resources.Host, p provider, root string, ops []op, refresh bool) (*txnResult, error) {
	res, err := h.T.Run(ctx, transport.Command{Script: txnScript(p, root, ops, refresh), Stdin: bytes.NewReader(nil)})
	if err != nil {
		return nil, err
	}
	out := string(res.Stdout)
	i := strings.Index(out, markLog+"\n")
	if i < 0 {
		ce := resources.ScriptError("", "", res)
		ce.Cause = p.id() + " transaction did not run: " + ce.Cause
		return nil, ce
	}
	r := &txnResult{Log: out[i+len(markLog)+1:] + string(res.Stderr), Status: res.ExitStatus, Change: newChange()}
	head := out[:i]
	if j := strings.Index(head, markDiff+"\n"); j >= 0 {
		ls := strings.Split(head[j+len(markDiff)+1:], "\n")
		// An empty list of installed packages is never trusted: taken for
		// a real one it would make every package look installed (or
		// removed) by the transaction, and a rollback undo them all.
		var nb, na int
		if _, err := fmt.Sscan(ls[0], &nb, &na); err != nil || nb == 0 || na == 0 {
			r.Change.Known = false
			ls = nil
		}
		for i, l := range ls {
			switch {
			case i == 0 || l == "":
			case strings.HasPrefix(l, "\t"):
				r.Change.Added[l[1:]] = true
			default:
				r.Change.Removed[l] = true
			}
		}
	} else {
		r.Change.Known = false
	}
	return r, nil
}

// transact runs ops as one transaction, refreshing the index first when
// refresh is set, and once more, retrying, when the failure is one an
// out-of-date index explains. It returns the composed change, the
// package manager's output and the error.
func transact(ctx context.Context, h *resources.Host, p provider, root string, ops []op, refresh bool) (*change, string, bool, error) {
	r, err := runTxn(ctx, h, p, root, ops, refresh)
	if err != nil {
		return nil, "", refresh, err
	}
	ch, log := r.Change, r.Log
	if r.Status != 0 && !refresh && p.stale(r.Log, r.Status) {
		refresh = true
		r2, err := runTxn(ctx, h, p, root, ops, true)
		if err != nil {
			return ch, log, refresh, err
		}
		ch.then(r2.Change)
		r, log = r2, r.Log+"\n"+r2.Log
	}
	if r.Status != 0 {
		return ch, log, refresh, txnError(p, r.Status, r.Log)
	}
	return ch, log, refresh, nil
}

// txnError is a failed transaction's error, for no package in
// particular (itemError names it): the package manager's error line is
// the cause, its last words are kept as the stderr shown under it.
func txnError(p provider, status int, log string) *resources.ChangeError {
	w := words(log, 25)
	ls := strings.Split(w, "\n")
	at := len(ls) - 1
	for i := len(ls) - 1; i >= 0; i-- {
		l := strings.ToLower(strings.TrimSpace(ls[i]))
		if strings.HasPrefix(l, "e: ") || strings.HasPrefix(l, "error") {
			at = i
			break
		}
	}
	line := strings.TrimSpace(ls[at])
	ce := &resources.ChangeError{Cause: fmt.Sprintf("%s failed (exit status %d)", p.id(), status), Status: status}
	if line != "" && line != "..." {
		ce.Cause += ": " + line
	}
	if at == len(ls)-1 {
		// The cause ends the output: shown once.
		ls = ls[:at]
	}
	if rest := strings.TrimSpace(strings.Join(ls, "\n")); rest != "" && rest != "..." {
		ce.Stderr = []byte(strings.Join(ls, "\n") + "\n")
	}
	return ce
}

// itemError is err, a transaction's or a check's, as the error of one
// op's change: a *resources.ChangeError gets the op's action and package.
func itemError(err error, action, name string) error {
	var ce *resources.ChangeError
	if !errors.As(err, &ce) || ce.Action != "" {
		return err
	}
	c := *ce
	c.Action, c.Path = action, name
	return &c
}

// opAction is the word for what an op does.
func opAction(o op) string {
	switch {
	case o.Kind == opRemove:
		return "remove"
	case o.Installed && o.Kind == opLatest:
		return "upgrade"
	case o.Installed:
		return "update"
	}
	return "install"
}

// opFor turns a planned change into the op making it.
func opFor(before, after *resources.State) op {
	o := op{Name: after.Str("name"), Installed: before.Present, Candidate: before.Str("candidate")}
	if o.Name == "" {
		o.Name = before.Str("name")
	}
	switch {
	case !after.Present:
		o.Kind = opRemove
	case boolState(before, "latest"):
		o.Kind, o.Version = opLatest, after.Str("version")
	case after.Str("version") != "":
		o.Kind, o.Version = opVersion, after.Str("version")
	default:
		o.Kind = opInstall
	}
	return o
}

// needsRefresh reports whether an op cannot be made from the index the
// probe saw: a package to install that the index does not know, or a
// pinned version it does not offer.
func needsRefresh(p provider, o op, before *resources.State) bool {
	if o.Kind == opRemove {
		return false
	}
	avail, queried := before.List("available")
	if !queried {
		return false
	}
	if o.Kind == opVersion {
		for _, a := range avail {
			if p.matches(o.Version, a) {
				return false
			}
		}
		return true
	}
	return before.Str("candidate") == "" && !before.Present
}

// ApplyBatch implements resources.Batcher: every change of one provider
// in one transaction. Each item is then checked against what the
// transaction did: a package manager may skip part of a request (dnf
// shell goes on after a command fails).
func (t Package) ApplyBatch(ctx context.Context, h *resources.Host, items []resources.BatchItem) []resources.BatchResult {
	results := make([]resources.BatchResult, len(items))
	var order []string
	groups := map[string][]int{}
	for i, it := range items {
		id := it.Before.Str("provider")
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], i)
	}
	for _, id := range order {
		idx := groups[id]
		p := providerByID(id)
		if p == nil {
			for _, i := range idx {
				results[i].Err = fmt.Errorf("unknown package provider %q", id)
			}
			continue
		}
		ops := make([]op, len(idx))
		refresh := false
		for k, i := range idx {
			ops[k] = opFor(items[i].Before, items[i].After)
			if boolState(items[i].Before, "update_cache") || needsRefresh(p, ops[k], items[i].Before) {
				refresh = true
			}
		}
		ch, log, refreshed, err := transact(ctx, h, p, t.root, ops, refresh)
		extrasDone := false
		for k, i := range idx {
			before := items[i].Before
			undo := resources.Undo{"provider": id, "name": ops[k].Name}
			if before.Present {
				undo["previous"] = before.Str("installed")
			}
			results[i].Undo = undo
			switch {
			case ch != nil && ch.Known:
				// A failed run of several commands (pacman, apk, dnf 5) may
				// have made some changes: those are applied (and will be
				// rolled back), the others failed.
				if cerr := check(p, ops[k], before, ch, refreshed, log); cerr != nil {
					results[i].Err = cerr
					if err != nil {
						results[i].Err = err
					}
				}
			case err != nil:
				results[i].Err = err
			}
			if results[i].Err != nil {
				results[i].Err = itemError(results[i].Err, opAction(ops[k]), ops[k].Name)
			}
			if results[i].Err == nil && !extrasDone && ch != nil && ch.Known {
				// What the transaction did besides the declared changes is
				// reverted with the first successful one, reverted last.
				recordExtras(undo, ch, ops)
				extrasDone = true
			}
		}
	}
	return results
}

// check verifies that the transaction left one op's package as asked.
func check(p provider, o op, before *resources.State, ch *change, refreshed bool, log string) error {
	now := before.Str("installed")
	if !before.Present {
		now = ""
	}
	gone := versions(ch.Removed, o.Name)
	came := versions(ch.Added, o.Name)
	if len(came) > 0 {
		now = came[len(came)-1]
	} else if len(gone) > 0 {
		now = ""
	}
	var problem string
	switch o.Kind {
	case opRemove:
		if now != "" {
			problem = "left " + o.Name + " " + now + " installed"
		}
	case opVersion:
		if now == "" || !p.matches(o.Version, now) {
			problem = fmt.Sprintf("did not install %s %s (%s)", o.Name, o.Version, describe(now))
		}
	case opLatest:
		if now == "" {
			problem = "did not install " + o.Name
		} else if !refreshed && o.Version != "" && !p.matches(o.Version, now) {
			problem = fmt.Sprintf("did not upgrade %s to %s (%s)", o.Name, o.Version, describe(now))
		}
	default:
		if now == "" {
			problem = "did not install " + o.Name
		}
	}
	if problem == "" {
		return nil
	}
	ce := &resources.ChangeError{Cause: p.id() + " " + problem}
	if w := words(log, 15); strings.TrimSpace(w) != "" {
		ce.Stderr = []byte(w + "\n")
	}
	return ce
}

func describe(v string) string {
	if v == "" {
		return "it is not installed"
	}
	return "it is at " + v
}

// recordExtras records in undo what the transaction changed besides the
// ops' own packages: "added" packages it installed, "removed" packages it
// removed (with their versions), "changed" packages whose version it
// changed ("name old new"), one per line.
func recordExtras(undo resources.Undo, ch *change, ops []op) {
	own := map[string]bool{}
	for _, o := range ops {
		own[o.Name] = true
	}
	removed, added := map[string]string{}, map[string]string{}
	for l := range ch.Removed {
		n, v, _ := strings.Cut(l, " ")
		if !own[n] && !own[baseName(n)] {
			removed[n] = v
		}
	}
	for l := range ch.Added {
		n, v, _ := strings.Cut(l, " ")
		if !own[n] && !own[baseName(n)] {
			added[n] = v
		}
	}
	var a, r, c []string
	for n, v := range added {
		if old, ok := removed[n]; ok {
			c = append(c, n+" "+old+" "+v)
		} else {
			a = append(a, n+" "+v)
		}
	}
	for n, v := range removed {
		if _, ok := added[n]; !ok {
			r = append(r, n+" "+v)
		}
	}
	for k, l := range map[string][]string{"added": a, "removed": r, "changed": c} {
		if len(l) > 0 {
			sort.Strings(l)
			undo[k] = strings.Join(l, "\n")
		}
	}
}

// extraOps are the ops undoing what undo records besides the package.
func extraOps(undo resources.Undo) []op {
	var ops []op
	for _, l := range lines(undo["added"]) {
		n, _, _ := strings.Cut(l, " ")
		ops = append(ops, op{Kind: opRemove, Name: n, Installed: true})
	}
	for _, l := range lines(undo["removed"]) {
		n, v, _ := strings.Cut(l, " ")
		ops = append(ops, op{Kind: opVersion, Name: n, Version: v})
	}
	for _, l := range lines(undo["changed"]) {
		f := strings.Fields(l)
		if len(f) == 3 {
			ops = append(ops, op{Kind: opVersion, Name: f[0], Version: f[1], Installed: true})
		}
	}
	return ops
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Revert implements resources.Type: remove the package if the change
// installed it, otherwise reinstall the version it had; and undo what the
// transaction did besides (remove the dependencies it pulled in,
// reinstall what it removed or changed), in one transaction. When that
// transaction fails only because of those other packages, the package
// itself is restored alone and the error says what was not.
func (t Package) Revert(ctx context.Context, h *resources.Host, before, after *resources.State, undo resources.Undo) error {
	id := undo["provider"]
	if id == "" {
		id = before.Str("provider")
	}
	p := providerByID(id)
	if p == nil {
		return fmt.Errorf("unknown package provider %q", id)
	}
	name := undo["name"]
	if name == "" {
		name = before.Str("name")
	}
	prev, had := undo["previous"]
	if undo == nil {
		prev, had = before.Str("installed"), before.Present
	}
	main := op{Kind: opRemove, Name: name, Installed: true}
	if had && prev != "" {
		main = op{Kind: opVersion, Name: name, Version: prev, Candidate: before.Str("candidate")}
	}
	extras := extraOps(undo)
	ops := append([]op{main}, extras...)
	// The state the revert starts from, for checking what it did.
	pre := &resources.State{Present: after.Present, Attrs: map[string]cty.Value{"installed": cty.StringVal(after.Str("version"))}}
	if after.Present && after.Str("version") == "" {
		pre.Attrs["installed"] = cty.StringVal("(unknown version)")
	}
	action := "restore"
	if main.Kind == opRemove {
		action = "remove"
	}
	ch, log, _, err := transact(ctx, h, p, t.root, ops, false)
	if err == nil && ch != nil && ch.Known {
		err = check(p, main, pre, ch, false, log)
	}
	if err != nil {
		err = itemError(err, action, name)
	}
	if err == nil || len(extras) == 0 {
		return err
	}
	ch, log, _, err2 := transact(ctx, h, p, t.root, []op{main}, false)
	if err2 == nil && ch != nil && ch.Known {
		err2 = check(p, main, pre, ch, false, log)
	}
	if err2 != nil {
		return itemError(err2, action, name)
	}
	return errors.Join(fmt.Errorf("restored %s, but not the other packages its change touched (%s)", name, describeOps(extras)), err)
}

func describeOps(ops []op) string {
	var s []string
	for _, o := range ops {
		if o.Kind == opRemove {
			s = append(s, "remove "+o.Name)
		} else {
			s = append(s, o.Name+" "+o.Version)
		}
	}
	return strings.Join(s, ", ")
}
