package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

var _ transport.Locker = (*Transport)(nil)

// The host's run lock is an flock(2) held by a shell of its own: an exec
// session (behind sudo with become, like a worker) runs lockProgram, which
// opens the lock file read-only (flock works on any open file, so root and
// unprivileged logins contend on one file whoever created it), takes the
// lock with flock(1), records the holder next to it, prints
//
//	"tend-lock ok PATH\n"                      the lock is ours, or
//	"tend-lock busy PATH\n" HOLDER-RECORD      another run holds it, or
//	"tend-lock error REASON\n"
//
// and then blocks reading its standard input, which the controller never
// writes. Release closes that input; a controller that dies or loses its
// connection closes it too (sshd closes the channel): the shell removes
// the holder record and exits, and the host's kernel releases the lock
// with its file descriptor, however the shell ended.
//
// The holder record is LockInfo.MarshalText plus host_pid, the lock
// shell's PID: a record left behind by a shell killed outright, which the
// next holder could not replace (another user's file in the sticky
// /run/lock), names a process that is gone and is not reported.

// lockPoll is how often a Lock that waits tries again. flock(1) -w is
// util-linux only (busybox lacks it), so the program polls with -n.
const lockPoll = 200 * time.Millisecond

// lockProgram is the lock shell's program: path "" means the default
// directories (transport.LockDirs), polls how many more tries after the
// first, record the holder record.
func lockProgram(path string, polls int, record []byte) string {
	s := shell.NewScript().Set("_l_f", path)
	s.Raw("_l_n=").Int(uint(max(polls, 0))).Line("").Set("_l_i", string(record))
	s.Line(`if [ -z "$_l_f" ]; then`).Raw("\tfor _l_d in")
	for _, d := range transport.LockDirs() {
		s.Word(" ", d, "")
	}
	s.Line("; do\n\t\tif [ -d \"$_l_d\" ]; then _l_f=$_l_d/" + transport.LockFileName + "; break; fi\n\tdone\nfi")
	s.Raw(`if [ -z "$_l_f" ]; then echo `).Word(`"tend-lock error no lock directory ("`, strings.Join(transport.LockDirs(), ", "), `")"`).Line("; exit 0; fi")
	s.Line(`_l_h=$_l_f` + transport.HolderSuffix + `
command -v flock >/dev/null 2>&1 || { echo "tend-lock error no flock command on the host (util-linux or busybox)"; exit 0; }
if [ ! -e "$_l_f" ] && [ ! -L "$_l_f" ]; then (umask 022; : >> "$_l_f") 2>/dev/null; fi
if [ -L "$_l_f" ] || [ ! -f "$_l_f" ]; then echo "tend-lock error $_l_f is not a regular file"; exit 0; fi
if [ ! -r "$_l_f" ]; then echo "tend-lock error cannot read $_l_f"; exit 0; fi
exec 9< "$_l_f"
while ! _l_e=$(flock -n 9 2>&1); do
	if [ -n "$_l_e" ]; then echo "tend-lock error flock $_l_f: $_l_e" | tr '\n' ' '; echo; exit 0; fi
	if [ "$_l_n" -le 0 ]; then
		_l_p=
		if [ -r "$_l_h" ]; then
			while IFS='=' read -r _l_k _l_v; do if [ "$_l_k" = host_pid ]; then _l_p=$_l_v; fi; done < "$_l_h"
		fi
		echo "tend-lock busy $_l_f"
		if [ -n "$_l_p" ] && { [ ! -d /proc/self ] || [ -d "/proc/$_l_p" ]; }; then cat "$_l_h" 2>/dev/null; fi
		exit 0
	fi`)
	s.Raw("\tsleep ").Word("", strconv.FormatFloat(lockPoll.Seconds(), 'f', -1, 64), "").Line(` 2>/dev/null || sleep 1
	_l_n=$((_l_n - 1))
done
if _l_t=$(mktemp "$_l_h.XXXXXXXXXX" 2>/dev/null); then
	if ! { printf '%shost_pid=%s\n' "$_l_i" "$$" > "$_l_t" && chmod 644 "$_l_t" && mv -f "$_l_t" "$_l_h"; } 2>/dev/null; then
		rm -f "$_l_t"
	fi
fi
echo "tend-lock ok $_l_f"
while IFS= read -r _l_x; do :; done
rm -f "$_l_h" 2>/dev/null
exit 0`)
	return s.String()
}

// Lock implements transport.Locker with a session of its own that holds
// the lock (see lockProgram) until release, Close, or the connection's
// end. The session counts in MaxSessions.
func (t *Transport) Lock(ctx context.Context, info transport.LockInfo, wait time.Duration) (func() error, error) {
	fail := func(err error) error { return fmt.Errorf("ssh %s: lock: %w", t.name, err) }
	if cap(t.sem) < 2 {
		return nil, fail(errors.New("MaxSessions 1 leaves no session for scripts while the lock is held"))
	}
	record, err := info.MarshalText()
	if err != nil {
		return nil, fail(err)
	}
	polls := 0
	if wait > 0 {
		polls = int((wait + lockPoll - 1) / lockPoll)
	}
	w, err := t.startShell(ctx, lockProgram(t.lockPath, polls, record))
	if err != nil {
		return nil, fail(err)
	}
	// The answer takes as long as the wait, during which the shell reads
	// no input: cancelling kills it (see dropLock).
	answers := make(chan lockAnswer, 1)
	go func() {
		line, err := w.hello()
		answers <- lockAnswer{line, err}
	}()
	var line string
	select {
	case a := <-answers:
		line, err = a.line, a.err
	case <-ctx.Done():
		go t.dropLock(w, answers)
		return nil, fail(ctx.Err())
	}
	if err != nil {
		w.fail(err)
		return nil, fail(err)
	}
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "tend-lock":
	default:
		err := w.deadErr(fmt.Errorf("unexpected answer %q", line))
		w.fail(err)
		return nil, fail(err)
	}
	state, arg, _ := strings.Cut(rest, " ")
	switch state {
	case "ok":
		return t.lockRelease(w, arg), nil
	case "busy":
		// The holder record follows, then the shell exits.
		rec, _ := io.ReadAll(io.LimitReader(w.out, 64<<10))
		w.close()
		e := &transport.LockedError{Path: arg}
		if err := e.Holder.UnmarshalText(rec); err != nil {
			e.Holder = transport.LockInfo{}
		}
		return nil, fail(e)
	case "error":
		w.close()
		return nil, fail(errors.New(arg))
	}
	err = w.deadErr(fmt.Errorf("unexpected answer %q", line))
	w.fail(err)
	return nil, fail(err)
}

// lockRelease returns the release function of the lock held by w: it
// closes the shell's input and waits for the shell to end. It fails if the
// session had ended before (the connection was lost: the host released
// the lock then), unless Close ended it.
func (t *Transport) lockRelease(w *worker, path string) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			select {
			case <-t.done:
				// Close ended the session, and so the lock, as asked.
				w.close()
				return
			default:
			}
			select {
			case <-w.done:
				err = fmt.Errorf("ssh %s: release lock %s: the lock session had ended: %w", t.name, path, w.deadErr(nil))
				w.close()
				return
			default:
			}
			w.stdin.Close()
			timer := time.NewTimer(10 * time.Second)
			defer timer.Stop()
			select {
			case <-w.done:
			case <-timer.C:
				err = fmt.Errorf("ssh %s: release lock %s: the lock shell did not exit", t.name, path)
			}
			w.sess.Close()
		})
		return err
	}
}

// lockAnswer is the lock shell's first line.
type lockAnswer struct {
	line string
	err  error
}

// dropLock ends the lock shell of a cancelled Lock: it kills the shell's
// process group from a session of its own (the shell polls flock and
// reads no input, so closing the session would leave it polling, maybe
// to take the lock for nobody), then closes the session.
func (t *Transport) dropLock(w *worker, answers <-chan lockAnswer) {
	defer w.close()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for w.pid.Load() == 0 {
		select {
		case <-answers:
			// The shell answered (or died) before its PID was read: it
			// is waiting for input or gone; closing is enough.
			return
		case <-w.done:
			return
		case <-deadline.C:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.killGroup(w.nonce, int(w.pid.Load()), int(w.pgid.Load()))
}
