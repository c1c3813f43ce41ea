package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// previewLimit is the largest content a rollback preview reads from a
// host to show as a diff (a plan reads current content up to the same).
const previewLimit = 256 << 10

// contentPreview is what a rollback preview says of the content a revert
// puts back: a diff from what the host holds now to the backup, or why
// there is none.
type contentPreview struct {
	diff string
	note string
}

// previewTask is one revert whose content comes back from a backup.
type previewTask struct {
	entry     *journal.Entry
	re        *engine.RevertEntry
	path      string // the content's path on the host
	backup    string // the backup's path on the host
	noDiffWhy string // set when no diff will be shown, and why
}

// contentRestore returns the task of showing what reverting re puts back
// as content, or nil when it puts back none.
func contentRestore(e *journal.Entry, re *engine.RevertEntry, windows bool) *previewTask {
	b, a := e.Before, e.After
	if b == nil || !b.Present || b.Content == nil || a == nil || a.Content == nil || b.Content.SHA256 == a.Content.SHA256 {
		return nil
	}
	t := &previewTask{entry: e, re: re}
	cb, ok1 := re.Type.(resources.ContentBackuper)
	occ, ok2 := re.Type.(resources.Occupant)
	switch {
	case b.Content.Sensitive || a.Content.Sensitive:
		t.noDiffWhy = "sensitive"
	case windows || !ok1 || !ok2:
		t.noDiffWhy = "not read back from this kind of host or resource"
	case re.UndoErr != nil:
		t.noDiffWhy = "its undo data cannot be read"
	case b.Content.Size > previewLimit:
		t.noDiffWhy = fmt.Sprintf("larger than %d KiB", previewLimit>>10)
	default:
		t.backup = cb.ContentBackup(re.Undo)
		t.path = occ.Occupies(b)
		if t.backup == "" || t.path == "" {
			t.noDiffWhy = "the run kept no backup of it"
		}
	}
	return t
}

// previewContents reads, from each host (one connection each, several
// hosts at once), the content the tasks' reverts would replace and the
// backups they would put back, and returns what to show for each.
func (c *common) previewContents(ctx context.Context, hosts []*engine.RevertHost, tasks map[string][]*previewTask) map[*engine.RevertEntry]contentPreview {
	out := map[*engine.RevertEntry]contentPreview{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, c.parallel))
	for _, rh := range hosts {
		ts := tasks[rh.Name]
		var fetch []*previewTask
		for _, t := range ts {
			if t.noDiffWhy != "" {
				out[t.re] = contentPreview{note: t.noDiffWhy}
			} else {
				fetch = append(fetch, t)
			}
		}
		if len(fetch) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := map[*engine.RevertEntry]contentPreview{}
			tr, err := rh.Connect(ctx)
			if err != nil {
				for _, t := range fetch {
					res[t.re] = contentPreview{note: "cannot reach the host to show it: " + err.Error()}
				}
			} else {
				for _, t := range fetch {
					res[t.re] = previewOne(ctx, tr, t)
				}
				tr.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range res {
				out[k] = v
			}
		}()
	}
	wg.Wait()
	return out
}

// previewOne reads one revert's current content and backup and diffs them.
func previewOne(ctx context.Context, tr transport.Transport, t *previewTask) contentPreview {
	backup, err := readHostFile(ctx, tr, t.backup)
	if err != nil {
		return contentPreview{note: fmt.Sprintf("its backup %s cannot be read: %v", t.backup, err)}
	}
	cur, err := readHostFile(ctx, tr, t.path)
	switch {
	case err == errNoFile:
		cur = nil
	case err != nil:
		return contentPreview{note: fmt.Sprintf("%s cannot be read: %v", t.path, err)}
	}
	d, ok := plan.TextDiff(t.path+" (now)", cur, t.path+" (after rollback)", backup)
	if !ok {
		return contentPreview{note: fmt.Sprintf("binary, %d → %d bytes", len(cur), len(backup))}
	}
	if d == "" {
		return contentPreview{note: "the host already holds the content the rollback puts back"}
	}
	return contentPreview{diff: d}
}

var errNoFile = fmt.Errorf("no such file")

// readHostFile reads a regular file of at most previewLimit bytes with
// the transport's shell (and its privileges).
func readHostFile(ctx context.Context, tr transport.Transport, p string) ([]byte, error) {
	q := shell.Quote(p)
	script := "if [ ! -e " + q + " ]; then exit 3; fi\n" +
		"[ -f " + q + " ] || { echo 'not a regular file' >&2; exit 4; }\n" +
		"n=$(wc -c < " + q + ") || exit 5\n" +
		"[ \"$n\" -le " + strconv.Itoa(previewLimit) + " ] || { echo \"$n bytes, too large to show\" >&2; exit 4; }\n" +
		"exec cat -- " + q + "\n"
	res, err := tr.Run(ctx, transport.Command{Script: script})
	if err != nil {
		return nil, err
	}
	switch res.ExitStatus {
	case 0:
		return res.Stdout, nil
	case 3:
		return nil, errNoFile
	}
	return nil, &transport.ExitError{Status: res.ExitStatus, Stderr: res.Stderr}
}

// printContentPreview prints, under a revert's line, the diff of the
// content it puts back, or what is known of it and why no diff is shown.
func printContentPreview(w io.Writer, e *journal.Entry, p contentPreview) {
	if p.diff == "" {
		fmt.Fprintf(w, "      content: sha256 %.12s, %d bytes, from the host's backup; not shown: %s\n", e.Before.Content.SHA256, e.Before.Content.Size, p.note)
		return
	}
	fmt.Fprintln(w, "      content:")
	fmt.Fprint(w, indent(p.diff, "        "))
}
