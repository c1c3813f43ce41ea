package resources

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
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
// the host two processes (chmod and mv) instead of a script each; larger
// or binary content goes through Apply.
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

// runBatch runs the items idx as one script, filling their results; it
// reports whether all succeeded. The script prints "tend-ok-TAG I" after
// each item it completed and stops at the first that fails.
func (File) runBatch(ctx context.Context, h *Host, items []BatchItem, idx []int, res []BatchResult) bool {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	tag := hex.EncodeToString(nonce[:])
	var sb strings.Builder
	var stdin bytes.Buffer
	// Temporary files are created private and given their mode after.
	sb.WriteString("umask 077\n")
	// _tr reads $1 lines of stdin into the open descriptor 3, the last
	// without its newline when $2 is 0.
	sb.WriteString(`_tr() {
  _n=$1
  while [ "$_n" -gt 0 ]; do
    IFS= read -r _l || return 1
    _n=$((_n - 1))
    if [ "$_n" -gt 0 ] || [ "$2" = 1 ]; then printf '%s\n' "$_l" >&3 || return 1; else printf '%s' "$_l" >&3 || return 1; fi
  done
}
`)
	for k, i := range idx {
		it := items[i]
		before, after := it.Before, it.After
		p := changePath(before, after)
		qp := shell.Quote(p)
		undo := Undo{}
		fmt.Fprintf(&sb, "_tb%d() {\n", k)
		switch {
		case !after.Present:
			undo["backup"] = h.NextBackup(p)
			sb.WriteString(strings.TrimSuffix(backupScript(p, undo["backup"]), "\n") + " || return 1\n")
			sb.WriteString("rm -f -- " + qp + " || return 1\n")
		case contentChanges(before, after):
			if before.Present {
				undo["backup"] = h.NextBackup(p)
				sb.WriteString(strings.TrimSuffix(backupScript(p, undo["backup"]), "\n") + " || return 1\n")
			}
			mode := after.Str("mode")
			if mode == "" {
				mode = before.Str("mode")
			}
			if mode == "" {
				mode = "0644"
			}
			tmp := shell.Quote(path.Dir(p) + "/.tend." + tag + "." + fmt.Sprint(k))
			// noclobber: the temporary name is created (O_EXCL), never
			// followed; _tc tells a failed creation (nothing of ours to
			// remove) from a failed write.
			fmt.Fprintf(&sb, "_tt=%s\n", tmp)
			data := after.Content.Data
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
			fmt.Fprintf(&sb, "set -C; _tc=\n{ _tc=1; _tr %d %d; } 3>\"$_tt\"\n_ts=$?; set +C\n[ -n \"$_tc\" ] || return 1\n", lines, endsNL)
			fail := "{ rm -f -- \"$_tt\"; return 1; }"
			fmt.Fprintf(&sb, "[ $_ts = 0 ] || %s\nchmod %s \"$_tt\" || %s\n", fail, mode, fail)
			owner, group := after.Str("owner"), after.Str("group")
			switch {
			case owner != "" && group != "":
				fmt.Fprintf(&sb, "chown %s \"$_tt\" || %s\n", shell.Quote(owner+":"+group), fail)
			case owner != "" || group != "":
				if owner != "" {
					fmt.Fprintf(&sb, "chown %s \"$_tt\" || %s\n", shell.Quote(owner), fail)
				}
				if group != "" {
					fmt.Fprintf(&sb, "chgrp %s \"$_tt\" || %s\n", shell.Quote(group), fail)
				}
			case before.Present:
				// A rewritten file keeps its ownership: the temporary
				// file has it already when the old one is ours (test's -O
				// and -G, no process), else chown gives it.
				if u, g := before.Str("uid"), before.Str("gid"); u != "" && g != "" {
					fmt.Fprintf(&sb, "{ [ -O %s ] && [ -G %s ] && [ -G \"$_tt\" ]; } || chown %s \"$_tt\" || %s\n", qp, qp, u+":"+g, fail)
				}
			}
			fmt.Fprintf(&sb, "mv -f -- \"$_tt\" %s || %s\n", qp, fail)
		default:
			if !before.Present {
				// No content declared and no file: an empty one.
				mode := after.Str("mode")
				if mode == "" {
					mode = "0644"
				}
				fmt.Fprintf(&sb, "_tt=%s\nset -C; _tc=\n{ _tc=1; } 3>\"$_tt\"\nset +C\n[ -n \"$_tc\" ] || return 1\n", shell.Quote(path.Dir(p)+"/.tend."+tag+"."+fmt.Sprint(k)))
				fail := "{ rm -f -- \"$_tt\"; return 1; }"
				fmt.Fprintf(&sb, "chmod %s \"$_tt\" || %s\n", mode, fail)
				if o := after.Str("owner"); o != "" {
					fmt.Fprintf(&sb, "chown %s \"$_tt\" || %s\n", shell.Quote(o), fail)
				}
				if g := after.Str("group"); g != "" {
					fmt.Fprintf(&sb, "chgrp %s \"$_tt\" || %s\n", shell.Quote(g), fail)
				}
				fmt.Fprintf(&sb, "mv -f -- \"$_tt\" %s || %s\n", qp, fail)
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
	for k, i := range idx {
		fmt.Fprintf(&sb, "_tb%d || exit 1\necho 'tend-ok-%s %d'\n", k, tag, i)
	}
	out, err := transport.Output(ctx, h.T, transport.Command{Script: sb.String(), Stdin: bytes.NewReader(stdin.Bytes())})
	done := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(l, "tend-ok-"+tag+" "); ok {
			done[n] = true
		}
	}
	all := true
	for _, i := range idx {
		switch {
		case done[fmt.Sprint(i)]:
		case all:
			all = false
			res[i].Err = err
			if res[i].Err == nil {
				res[i].Err = errors.New("the batch script ended before this change")
			}
		default:
			res[i].Undo, res[i].Err = nil, ErrNotAttempted
		}
	}
	return all
}
