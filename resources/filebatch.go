package resources

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path"
	"strconv"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// ErrNotAttempted is a batch item's error when an earlier item of its
// batch failed and the batch stopped before it: nothing was done for it,
// and apply treats it as a change still to make (or to skip).
var ErrNotAttempted = errors.New("not attempted: an earlier change of its batch failed")

// batchLine is the largest text a batched file's content may hold
// without going through a script of its own: the shell reads it from
// stdin with its read builtin (no process, but a system call per byte).
const batchLine = 16 << 10

// ApplyBatch implements Batcher: a host's file changes in one script, in
// order, stopping at the first failure. Text content travels over stdin
// and is written by the shell's own read and printf, so a new file costs
// the host three processes (chmod, sync and mv) instead of a script
// each; larger or binary content goes through Apply.
func (f File) ApplyBatch(ctx context.Context, h *Host, items []BatchItem) []BatchResult {
	res := make([]BatchResult, len(items))
	var seg []int
	flush := func() bool {
		if len(seg) == 0 {
			return true
		}
		ok := f.runBatch(ctx, h, items, seg, res)
		seg = seg[:0]
		return ok
	}
	for i, it := range items {
		if batchable(it) {
			seg = append(seg, i)
			continue
		}
		if !flush() {
			NotAttempted(res, i)
			return res
		}
		res[i].Undo, res[i].Err = f.Apply(ctx, h, it.Before, it.After)
		if res[i].Err != nil {
			NotAttempted(res, i+1)
			return res
		}
	}
	flush()
	return res
}

// NotAttempted marks the results from index from on that nothing has
// filled yet as ErrNotAttempted: what a Batcher returns for the items
// after the one its batch stopped at.
func NotAttempted(res []BatchResult, from int) {
	for j := from; j < len(res); j++ {
		if res[j].Err == nil && res[j].Undo == nil {
			res[j].Err = ErrNotAttempted
		}
	}
}

// batchable reports whether a change can go in a batch script: anything
// but new content that is large or not text the shell can read.
func batchable(it BatchItem) bool {
	c := it.After.Content
	if !it.After.Present || c == nil || !contentChanges(it.Before, it.After) {
		return true
	}
	return c.Known && len(c.Data) <= batchLine && bytes.IndexByte(c.Data, 0) < 0
}

// contentChanges reports whether a present file's content is (re)written.
func contentChanges(before, after *State) bool {
	return after.Content != nil && (!before.Present || before.Content == nil || before.Content.SHA256 != after.Content.SHA256)
}

// runBatch makes the changes idx, filling their results; it reports
// whether all succeeded. One script makes them: first, one by one, the
// changes that are not staged, stopping at the first that fails; then the
// new content for several files of one directory, staged and moved in
// together (see stage). What staging does not complete goes through
// runItems, one by one.
func (f File) runBatch(ctx context.Context, h *Host, items []BatchItem, idx []int, res []BatchResult) bool {
	staged := stageable(items, idx)
	if len(staged) == 0 {
		return f.runItems(ctx, h, items, idx, res)
	}
	isStaged := map[int]bool{}
	for _, i := range staged {
		isStaged[i] = true
	}
	var rest []int
	for _, i := range idx {
		if !isStaged[i] {
			rest = append(rest, i)
		}
	}
	b := newBatchScript(h)
	b.items(h, items, rest, res)
	b.stage(h, items, staged, res)
	done, out, err := b.run(ctx, h)
	if !itemResults(items, rest, res, done, out, err) {
		for _, i := range staged {
			res[i].Undo, res[i].Err = nil, ErrNotAttempted
		}
		return false
	}
	var again []int
	for _, i := range staged {
		if !done[i] {
			res[i].Undo = nil
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return true
	}
	return f.runItems(ctx, h, items, again, res)
}

// stageMin is the fewest new contents in one directory worth staging: a
// staged file costs its share of five processes (mkdir, chmod, sync, mv,
// rm) instead of three of its own (chmod, sync and mv).
const stageMin = 3

// stageable returns the items of idx whose new content runStaged can
// write: those in a directory that receives at least stageMin of them.
func stageable(items []BatchItem, idx []int) []int {
	per := map[string]int{}
	for _, i := range idx {
		if it := items[i]; it.After.Present && contentChanges(it.Before, it.After) {
			per[path.Dir(changePath(it.Before, it.After))]++
		}
	}
	var out []int
	for _, i := range idx {
		if it := items[i]; it.After.Present && contentChanges(it.Before, it.After) && per[path.Dir(changePath(it.Before, it.After))] >= stageMin {
			out = append(out, i)
		}
	}
	return out
}

// trFunc is the shell function that reads $1 lines of stdin into the
// open descriptor 3, the last without its newline when $2 is 0.
const trFunc = `_tr() {
  _n=$1
  while [ "$_n" -gt 0 ]; do
    IFS= read -r _l || return 1
    _n=$((_n - 1))
    if [ "$_n" -gt 0 ] || [ "$2" = 1 ]; then printf '%s\n' "$_l" >&3 || return 1; else printf '%s' "$_l" >&3 || return 1; fi
  done
}
`

// newTag returns a random tag for a script's temporary names and its
// completion lines.
// newTag names a batch's temporary files and staging directory: the
// run's temporary prefix (without ".tend."), then a nonce.
func newTag(h *Host) string {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	return strings.TrimPrefix(h.TempPrefix(), ".tend.") + hex.EncodeToString(nonce[:])
}

// batchScript is one script making a batch's changes. The contents it
// writes travel on its stdin, in the order the script reads them (the
// shell's read, trFunc), and it prints "tend-ok-TAG I" on stderr once
// item I is done: what the script wrote on stderr after the last of these
// lines is the failing item's own.
type batchScript struct {
	tag   string
	sb    strings.Builder
	stdin bytes.Buffer
}

func newBatchScript(h *Host) *batchScript {
	b := &batchScript{tag: newTag(h)}
	// Temporary files are created private and given their mode after.
	b.sb.WriteString("umask 077\n")
	b.sb.WriteString(trFunc)
	b.sb.WriteString(PathCheckFunc)
	b.sb.WriteString(FileFuncs)
	return b
}

// run runs the script and returns the items it reported done and its
// result, whose Stderr is only what came after the last item done; the
// error is the transport's.
func (b *batchScript) run(ctx context.Context, h *Host) (map[int]bool, *transport.Result, error) {
	res, err := h.T.Run(ctx, transport.Command{Script: b.sb.String(), Stdin: bytes.NewReader(b.stdin.Bytes())})
	if err != nil {
		return map[int]bool{}, nil, err
	}
	done := map[int]bool{}
	var tail []string
	for _, l := range strings.Split(string(res.Stderr), "\n") {
		if n, ok := strings.CutPrefix(l, "tend-ok-"+b.tag+" "); ok {
			if i, err := strconv.Atoi(n); err == nil {
				done[i] = true
				tail = tail[:0]
				continue
			}
		}
		tail = append(tail, l)
	}
	out := *res
	out.Stderr = []byte(strings.Join(tail, "\n"))
	return done, &out, nil
}

// writeContent appends to sb the commands creating the file named by
// $_tt (never following or reusing an existing name) with data, read
// from stdin by the shell itself, leaving the write's status in $_ts; a
// failed creation returns 1. data goes to stdin.
func writeContent(sb *strings.Builder, stdin *bytes.Buffer, data []byte) {
	lines := bytes.Count(data, []byte("\n"))
	endsNL := 1
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
		endsNL = 0
	}
	stdin.Write(data)
	if endsNL == 0 {
		stdin.WriteByte('\n')
	}
	// noclobber: the temporary name is created (O_EXCL), never followed;
	// _tc tells a failed creation (nothing of ours to remove) from a
	// failed write.
	sb.WriteString(shell.NewScript().Raw("set -C; _tc=\n{ _tc=1; _tr ").Int(uint(lines)).Raw(" ").Int(uint(endsNL)).
		Line(`; } 3>"$_tt"
_ts=$?; set +C
[ -n "$_tc" ] || return 1`).String())
}

// newMode is the mode a rewritten or new file gets: the declared one,
// else the file's current one, else 0644.
func newMode(before, after *State) string {
	if m := after.Str("mode"); m != "" {
		return m
	}
	if m := before.Str("mode"); m != "" {
		return m
	}
	return "0644"
}

// stage ends the script with the new content of the items idx (see
// stageable): written into a private directory created next to their
// files (one mkdir for all), given their modes and owners with one chmod
// per mode and one chown per owner, and renamed into place with one mv
// per directory: each file is still replaced atomically, by rename(2).
// The items in place are reported done. If staging fails, or a rename
// does, nothing is reported for those items and the staging directories
// are removed: runItems makes them one by one, with the host's own words
// for what fails. Their results' undo is filled, to be cleared for those
// not done.
func (b *batchScript) stage(h *Host, items []BatchItem, idx []int, res []BatchResult) {
	tag, sb, stdin := b.tag, &b.sb, &b.stdin
	w := func(s *shell.Script) { sb.WriteString(s.String()) }
	var dirs []string               // staging directories, in order of first use
	stage := map[string]string{}    // directory -> its staging directory
	target := map[string]string{}   // staging directory -> its directory, with a slash
	byDir := map[string][]string{}  // staging directory -> staged names
	byMode := map[string][]string{} // mode -> staged names
	var modes []string
	type owner struct {
		chgrp bool   // chgrp, else chown
		spec  string // its owner, owner:group or group
	}
	byOwner := map[owner][]string{} // ownership -> staged names
	var owners []owner
	var rewritten []string // paths of existing files, whose metadata is kept
	staged := make([]string, len(idx))
	for k, i := range idx {
		before, after := items[i].Before, items[i].After
		p := changePath(before, after)
		d := path.Dir(p)
		sd, ok := stage[d]
		if !ok {
			sd = strings.TrimSuffix(d, "/") + "/.tend." + tag
			stage[d] = sd
			target[sd] = strings.TrimSuffix(d, "/") + "/"
			dirs = append(dirs, sd)
		}
		staged[k] = sd + "/" + path.Base(p)
		byDir[sd] = append(byDir[sd], staged[k])
		m := newMode(before, after)
		if _, ok := byMode[m]; !ok {
			modes = append(modes, m)
		}
		byMode[m] = append(byMode[m], staged[k])
		own := func(o owner) {
			if _, ok := byOwner[o]; !ok {
				owners = append(owners, o)
			}
			byOwner[o] = append(byOwner[o], staged[k])
		}
		switch in := rewrite(before, after); {
		case in.KeepUID != "":
			// Kept ownership is given file by file, below.
		case in.Owner != "" && in.Group != "":
			own(owner{spec: in.Owner + ":" + in.Group})
		case in.Owner != "":
			own(owner{spec: in.Owner})
		case in.Group != "":
			own(owner{chgrp: true, spec: in.Group})
		}
		if before.Present {
			rewritten = append(rewritten, p)
		}
	}
	// _tm is set once the staging directories exist and are ours: until
	// then only empty ones (a partial mkdir) are removed.
	w(shell.NewScript().Line("_tm=\n_stage() {").Inline(shell.Cmd("mkdir").Operands(dirs...)).Line(" || return 1\n_tm=1"))
	sb.WriteString(MetaCheck(rewritten...))
	for k, i := range idx {
		before, after := items[i].Before, items[i].After
		p := changePath(before, after)
		undo := Undo{}
		if before.Present {
			undo["backup"] = h.itemBackup(items[i], p)
			sb.WriteString(BackupScript(p, undo["backup"], "return 1"))
		}
		res[i].Undo = undo
		w(shell.NewScript().Set("_tt", staged[k]))
		writeContent(sb, stdin, after.Content.Data)
		sb.WriteString("[ $_ts = 0 ] || return 1\n")
	}
	// Ownership before modes: chown and chgrp clear set-id bits.
	s := shell.NewScript()
	for _, o := range owners {
		c := shell.Cmd("chown")
		if o.chgrp {
			c = shell.Cmd("chgrp")
		}
		s.Inline(c.Operands(o.spec).Arg(byOwner[o]...)).Line(" || return 1")
	}
	for k, i := range idx {
		// A rewritten file without a declared owner keeps its ownership:
		// the staged file has it already when the old one is ours (test's
		// -O and -G, no process), else chown gives it. Then it gets the
		// old file's ACL and extended attributes.
		before, after := items[i].Before, items[i].After
		if !before.Present {
			continue
		}
		p := changePath(before, after)
		if in := rewrite(before, after); in.KeepUID != "" && in.KeepGID != "" {
			s.Raw("{ ").Inline(shell.Test("-O", p).And(shell.Test("-G", p)).And(shell.Test("-G", staged[k]))).Raw("; } || ").
				Inline(shell.Cmd("chown").Operands(in.KeepUID+":"+in.KeepGID, staged[k])).Line(" || return 1")
		}
		s.Raw("if ").Inline(shell.Test("-f", p)).Raw("; then ").Inline(shell.Cmd("_tmeta").Arg(p, staged[k])).Line(" || return 1; fi")
	}
	// The modes are octal digits (validated).
	for _, m := range modes {
		s.Inline(shell.Cmd("chmod").Arg(m).Operands(byMode[m]...)).Line(" || return 1")
	}
	// One syncfs per staging directory flushes all its files: an fsync
	// each would cost every file a disk flush of its own.
	s.Inline(shell.Cmd("sync", "-f").Operands(dirs...).Redirect("2>/dev/null")).Line(" || :")
	s.Line(":\n}\nif _stage; then")
	for _, sd := range dirs {
		// mv's last argument is the directory (a trailing slash): each
		// staged file is renamed to its own name there.
		s.Run(shell.Cmd("mv", "-f").Operands(byDir[sd]...).Arg(target[sd]))
	}
	for k, i := range idx {
		s.Raw("{ ").Inline(shell.Test("-e", staged[k]).Or(shell.Test("-h", staged[k]))).Raw("; } || ").
			Run(shell.Cmd("echo").Arg("tend-ok-" + tag + " " + strconv.Itoa(i)).Redirect(">&2"))
	}
	s.Line("fi").Raw(MetaDone)
	s.Raw(`if [ -n "$_tm" ]; then `).Inline(shell.Cmd("rm", "-rf").Operands(dirs...)).
		Raw("; else ").Inline(shell.Cmd("rmdir").Operands(dirs...).Redirect("2>/dev/null")).Line("; fi\nexit 0")
	w(s)
}

// runItems runs the items idx as one script, filling their results; it
// reports whether all succeeded.
func (File) runItems(ctx context.Context, h *Host, items []BatchItem, idx []int, res []BatchResult) bool {
	b := newBatchScript(h)
	b.items(h, items, idx, res)
	done, out, err := b.run(ctx, h)
	return itemResults(items, idx, res, done, out, err)
}

// items adds the items idx to the script, one by one, in order: it stops
// at the first that fails. Their results' undo is filled.
func (b *batchScript) items(h *Host, items []BatchItem, idx []int, res []BatchResult) {
	tag, sb, stdin := b.tag, &b.sb, &b.stdin
	for k, i := range idx {
		it := items[i]
		before, after := it.Before, it.After
		p := changePath(before, after)
		undo := Undo{}
		sb.WriteString(shell.NewScript().Raw("_tb").Int(uint(k)).Line("() {").String())
		switch {
		case !after.Present:
			undo["backup"] = h.itemBackup(it, p)
			sb.WriteString(BackupScript(p, undo["backup"], "return 1"))
			sb.WriteString(strings.TrimSuffix(RemoveScript(p), "\n") + " || return 1\n")
		case contentChanges(before, after):
			if before.Present {
				undo["backup"] = h.itemBackup(it, p)
				sb.WriteString(BackupScript(p, undo["backup"], "return 1"))
			}
			sb.WriteString(PathCheck(p, "file", "return 1"))
			sb.WriteString(shell.NewScript().Set("_tt", path.Dir(p)+"/.tend."+tag+"."+strconv.Itoa(k)).String())
			writeContent(sb, stdin, after.Content.Data)
			sb.WriteString("[ $_ts = 0 ] || { rm -f -- \"$_tt\"; return 1; }\n")
			in := rewrite(before, after)
			in.Temp, in.Path, in.Fail = "_tt", p, "return 1"
			sb.WriteString(in.Script())
		default:
			if !before.Present {
				// No content declared and no file: an empty one.
				sb.WriteString(PathCheck(p, "file", "return 1"))
				sb.WriteString(shell.NewScript().Set("_tt", path.Dir(p)+"/.tend."+tag+"."+strconv.Itoa(k)).
					Line(`set -C; _tc=
{ _tc=1; } 3>"$_tt"
set +C
[ -n "$_tc" ] || return 1`).String())
				in := rewrite(before, after)
				in.Temp, in.Path, in.Fail = "_tt", p, "return 1"
				sb.WriteString(in.Script())
			} else {
				var cs strings.Builder
				chmodChown(&cs, p, before, after)
				for _, l := range strings.Split(strings.TrimSuffix(cs.String(), "\n"), "\n") {
					if l != "" {
						sb.WriteString(l + " || return 1\n")
					}
				}
			}
		}
		sb.WriteString(":\n}\n")
		res[i].Undo = undo
	}
	var rewritten []string
	for _, i := range idx {
		if it := items[i]; it.Before.Present && it.After.Present && contentChanges(it.Before, it.After) {
			rewritten = append(rewritten, changePath(it.Before, it.After))
		}
	}
	sb.WriteString(MetaCheck(rewritten...))
	for k, i := range idx {
		sb.WriteString(shell.NewScript().Raw("_tb").Int(uint(k)).Line(" || exit 1").
			Run(shell.Cmd("echo").Arg("tend-ok-" + tag + " " + strconv.Itoa(i)).Redirect(">&2")).String())
	}
	if len(rewritten) > 0 {
		sb.WriteString(MetaDone)
	}
}

// itemResults fills the results of the items idx, made one by one in
// order, from those done: the first not done failed, with the script's
// failure as its own ChangeError (out's Stderr is what came after the
// last item done) or err, the transport's; the ones after it were not
// attempted. It reports whether all were done.
func itemResults(items []BatchItem, idx []int, res []BatchResult, done map[int]bool, out *transport.Result, err error) bool {
	all := true
	for _, i := range idx {
		switch {
		case done[i]:
		case all:
			all = false
			before, after := items[i].Before, items[i].After
			switch {
			case err != nil:
				res[i].Err = err
			case out != nil && out.ExitStatus != 0:
				res[i].Err = ScriptError(ChangeAction(before, after), changePath(before, after), out)
			default:
				res[i].Err = errors.New("the batch script ended before this change")
			}
		default:
			res[i].Undo, res[i].Err = nil, ErrNotAttempted
		}
	}
	return all
}
