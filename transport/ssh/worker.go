package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/tendhq/tend/transport"
)

// How a Run travels through a worker (see doc.go for the why).
//
// A worker is one exec session started like any Run (the bootstrap, behind
// sudo with become), whose script is workerProgram: a POSIX sh loop that
// reads framed scripts from its standard input, runs each one, and answers
// with framed results. After the bootstrap's marker, the worker prints
//
//	"tend-worker ok\n"                     ready, or
//	"tend-worker unsupported REASON\n"     and exits: Runs use sessions
//
// and then, for each frame the client writes,
//
//	ID " " SCRIPTLEN " " STDINLEN "\n" SCRIPT STDIN        (client → worker)
//	ID " pid " PID "\n"                                    (script started)
//	ID " exit " STATUS "\n" OUT RS ID "-o" RS ERR RS ID "-e" RS "\n"
//
// where RS is the byte 0x1e and ID a random 16-digit hex string the script
// never sees, so the trailers cannot occur in its output.
//
// The worker copies SCRIPT and STDIN, exactly, into files of a private
// temporary directory (mode 0700, in /dev/shm when it can, removed when the
// worker exits), runs the script as `setsid /bin/sh FILE` in the background
// with stdin from the STDIN file (or /dev/null) and stdout and stderr to
// files, reports its PID (which setsid made a process group and session
// of its own), waits for it, and sends both outputs. So a script sees its
// own stdin and EOF after it, never the frames that follow; a cancelled
// script's process group is killed from a second session as before,
// without touching the worker; and as each script gets files of its own,
// processes a script leaves behind never write into a later script's
// output.
//
// Processes are what a Run costs the host (a fork and exec takes
// milliseconds on a busy virtual machine), so the loop spawns few: dd for
// the script (and one for stdin when there is some), setsid and the
// script's shell, one cat per non-empty output, and one rm every 16
// scripts. A script's file and stdin are emptied (by the shell itself) as
// soon as it has ended, and its outputs as soon as they are sent, so
// nothing a script carried, read or printed stays on the host.

// maxWorkerStdin is the largest stdin a Run may carry through a worker.
// It must be known in advance (a sized reader: bytes.Reader, strings.Reader,
// bytes.Buffer) and is copied into the host's temporary directory; larger
// or streamed input goes through a session of its own.
const maxWorkerStdin = 16 << 20

// workerProgram is the worker's loop. It is POSIX sh; its variables and
// functions start with _w_.
const workerProgram = `_w_d=
for _w_t in /dev/shm "${TMPDIR:-/tmp}" /tmp; do
	if [ -d "$_w_t" ] && [ -w "$_w_t" ]; then
		_w_d=$(mktemp -d "$_w_t/tend-worker.XXXXXXXXXX" 2>/dev/null) && [ -n "$_w_d" ] && break
		_w_d=
	fi
done
if [ -z "$_w_d" ]; then echo "tend-worker unsupported no writable temporary directory (mktemp -d)"; exit 0; fi
# A signal (sshd's session ending: SIGHUP) kills the running script too.
_w_r=
trap 'if [ -n "$_w_r" ]; then kill -s KILL -- "-$_w_r" "$_w_r" 2>/dev/null; fi; rm -rf "$_w_d"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
for _w_c in setsid dd cat rm mkfifo; do
	command -v "$_w_c" >/dev/null 2>&1 || { echo "tend-worker unsupported no $_w_c command"; exit 0; }
done
# The frames reach the loop through a relay (cat into a FIFO), the only
# reader of the session's stdin: when the controller dies or its
# connection drops, sshd closes that stdin and the relay, seeing EOF,
# marks the worker ended (file e) and kills the running script's process
# group (its PID is in file g while it runs). The loop checks e after
# writing g, and the relay reads g after writing e, so a script started
# as the relay ends is killed by one or the other.
: > "$_w_d/g"
mkfifo -m 600 "$_w_d/in" || { echo "tend-worker unsupported no FIFO in $_w_d (mkfifo)"; exit 0; }
exec 3<&0
{
	trap : HUP INT TERM
	cat
	: > "$_w_d/e"
	if read -r _w_g < "$_w_d/g" && [ -n "$_w_g" ]; then kill -s KILL -- "-$_w_g" "$_w_g"; fi
} <&3 > "$_w_d/in" 2>/dev/null &
exec < "$_w_d/in" 3<&-
# _w_get N FILE copies exactly N bytes of stdin into FILE. dd asks read(2)
# for at most what remains, so nothing after the N bytes is consumed. A dd
# without iflag=fullblock fails at once, reading nothing; a loop of single
# reads takes over.
_w_fb=1
_w_get() {
	if [ "$1" -eq 0 ]; then : > "$2"; return; fi
	if [ -n "$_w_fb" ]; then
		if _w_r=$(dd bs="$1" count=1 iflag=fullblock of="$2" 2>&1); then
			case "$_w_r" in 1+0*) return 0 ;; *) return 1 ;; esac
		fi
		_w_fb=
	fi
	: > "$2"
	_w_n=$1
	while [ "$_w_n" -gt 0 ]; do
		dd bs="$_w_n" count=1 2>/dev/null >> "$2" || return 1
		_w_s=$(wc -c < "$2") || return 1
		[ "$(($1 - _w_s))" -lt "$_w_n" ] || return 1
		_w_n=$(($1 - _w_s))
	done
}
_w_k=0
echo "tend-worker ok"
while IFS=' ' read -r _w_id _w_sl _w_il _w_x; do
	case "$_w_id.$_w_sl.$_w_il" in
	*[!0-9a-f.]* | .* | *. | *..*) echo "tend-worker: bad frame header" >&2; exit 125 ;;
	esac
	_w_k=$((_w_k + 1))
	_w_f=$_w_d/$_w_k
	_w_get "$_w_sl" "$_w_f.s" || { echo "tend-worker: script stream truncated" >&2; exit 125; }
	_w_in=/dev/null
	if [ "$_w_il" -gt 0 ]; then
		_w_get "$_w_il" "$_w_f.i" || { echo "tend-worker: stdin stream truncated" >&2; exit 125; }
		_w_in=$_w_f.i
	fi
	if [ -e "$_w_d/e" ]; then exit 0; fi
	setsid /bin/sh "$_w_f.s" < "$_w_in" > "$_w_f.o" 2> "$_w_f.e" &
	_w_p=$!
	_w_r=$_w_p
	echo "$_w_p" > "$_w_d/g"
	if [ -e "$_w_d/e" ]; then kill -s KILL -- "-$_w_p" "$_w_p" 2>/dev/null; fi
	echo "$_w_id pid $_w_p"
	wait "$_w_p"
	_w_rc=$?
	_w_r=
	: > "$_w_d/g"
	# Emptied at once (a builtin, no process): the script may carry a
	# secret (an exec's command), stdin file content or a sudo password,
	# and none must outlive the script.
	: > "$_w_f.s"
	if [ "$_w_il" -gt 0 ]; then : > "$_w_f.i"; fi
	echo "$_w_id exit $_w_rc"
	if [ -s "$_w_f.o" ]; then cat "$_w_f.o"; fi
	printf '\036%s-o\036' "$_w_id"
	if [ -s "$_w_f.e" ]; then cat "$_w_f.e"; fi
	printf '\036%s-e\036\n' "$_w_id"
	: > "$_w_f.o"; : > "$_w_f.e"
	if [ $((_w_k % 16)) -eq 0 ]; then rm -f "$_w_d"/[0-9]*; fi
done
`

// errWorkerUnsupported marks a host where workers cannot run; Runs then
// take a session each, as without workers.
var errWorkerUnsupported = errors.New("worker unsupported")

// worker is one persistent shell session that runs scripts one at a time.
type worker struct {
	t     *Transport
	sess  *gossh.Session
	stdin io.WriteCloser
	out   *bufio.Reader
	// stderr keeps the end of what the worker session printed on stderr,
	// for the error when it dies.
	stderr *tailBuffer
	marker []byte
	// nonce is the launch's; pid and pgid are the shell's, as its
	// bootstrap reported them (zero until hello read them).
	nonce     string
	pid, pgid atomic.Int64
	// ready is set once the marker and the greeting were read.
	ready bool
	done  chan struct{} // closed when the session ended
	// exit is the session's end (valid once done is closed).
	exit error
	// broken is why the worker can no longer be used; set once.
	brokenMu sync.Mutex
	broken   error
	release  func()
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = append(t.b[:0:0], t.b[len(t.b)-8<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// pool holds a transport's workers: at most max of them, each running one
// script at a time.
type pool struct {
	mu      sync.Mutex
	idle    []*worker
	live    int
	max     int
	changed chan struct{} // closed and replaced when a worker is freed or ends
	// unsupported is set when the host cannot run workers.
	unsupported error
}

func newPool(max int) *pool {
	if max < 1 {
		max = 1
	}
	return &pool{max: max, changed: make(chan struct{})}
}

// notify wakes the Runs waiting for a worker. The caller holds p.mu.
func (p *pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// alive reports whether a worker is running or starting.
func (p *pool) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live > 0
}

// acquire returns an idle worker, or starts one if fewer than max are
// alive, or waits for one to be freed. A nil worker with a nil error
// means the host cannot run workers: the caller uses a session.
func (t *Transport) acquire(ctx context.Context) (*worker, error) {
	p := t.pool
	for {
		p.mu.Lock()
		if p.unsupported != nil {
			p.mu.Unlock()
			return nil, nil
		}
		for len(p.idle) > 0 {
			w := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			select {
			case <-w.done:
				// It ended while idle (killed, or sshd went away): never
				// hand it a script.
				w.fail(errors.New("worker session ended while idle"))
			default:
			}
			if w.err() == nil {
				p.mu.Unlock()
				return w, nil
			}
			p.live--
			w.close()
		}
		if p.live < p.max {
			p.live++
			p.mu.Unlock()
			w, err := t.startWorker(ctx)
			if err != nil {
				p.mu.Lock()
				p.live--
				p.notify()
				p.mu.Unlock()
				return nil, err
			}
			return w, nil
		}
		wait := p.changed
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.done:
			return nil, errClosed
		}
	}
}

// put gives w back to the pool, or ends it if it broke.
func (t *Transport) put(w *worker) {
	p := t.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notify()
	if w.err() != nil {
		p.live--
		w.close()
		return
	}
	select {
	case <-t.done:
		p.live--
		w.close()
		return
	default:
	}
	p.idle = append(p.idle, w)
}

// startWorker opens a worker session. It returns as soon as the session
// runs: the first frame goes right behind the worker program, so a
// worker's first Run costs one round trip like a Run of its own.
func (t *Transport) startWorker(ctx context.Context) (*worker, error) {
	w, err := t.startShell(ctx, workerProgram)
	if err == nil {
		t.workers.Add(1)
	}
	return w, err
}

// startShell opens an exec session running program through the bootstrap
// (behind sudo with become), for a conversation on its stdin and stdout:
// a worker, or the lock. The session holds a slot of t.sem until it ends.
func (t *Transport) startShell(ctx context.Context, program string) (*worker, error) {
	l, err := newLaunch(program, t.become)
	if err != nil {
		return nil, err
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.done:
		return nil, errClosed
	}
	var once sync.Once
	release := func() { once.Do(func() { <-t.sem }) }
	sess, err := t.newSession(ctx)
	if err != nil {
		release()
		return nil, t.connErr(err)
	}
	t.sessions.Add(1)
	w := &worker{t: t, sess: sess, stderr: &tailBuffer{}, marker: []byte(l.marker), nonce: l.nonce, done: make(chan struct{}), release: release}
	sess.Stderr = w.stderr
	if w.stdin, err = sess.StdinPipe(); err == nil {
		var out io.Reader
		if out, err = sess.StdoutPipe(); err == nil {
			w.out = bufio.NewReaderSize(out, 64<<10)
			err = sess.Start(l.command)
		}
	}
	if err != nil {
		sess.Close()
		release()
		return nil, t.connErr(err)
	}
	go func() {
		w.exit = sess.Wait()
		close(w.done)
		w.release()
	}()
	// The prelude (become password, the framed worker program) is small
	// enough for the channel's window: no need to wait for the worker.
	if _, err := w.stdin.Write(l.prelude); err != nil {
		w.fail(err)
		return nil, w.err()
	}
	return w, nil
}

func (w *worker) err() error {
	w.brokenMu.Lock()
	defer w.brokenMu.Unlock()
	return w.broken
}

// fail records why w is unusable (the first reason wins) and ends its
// session. Any Run reading from it gets an error.
func (w *worker) fail(err error) {
	w.brokenMu.Lock()
	if w.broken == nil {
		w.broken = err
	}
	w.brokenMu.Unlock()
	w.close()
}

func (w *worker) close() {
	w.stdin.Close()
	w.sess.Close()
}

// deadErr explains a worker that stopped answering: the connection's fate
// when it was lost or closed, else the session's exit and last words.
func (w *worker) deadErr(cause error) error {
	if err := w.t.connErr(nil); err != nil {
		return err
	}
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-w.done:
		if err := w.lostErr(); err != nil {
			return err
		}
		msg := w.stderr.String()
		// What the bootstrap printed (its marker, PID and group) is not
		// the worker's words.
		if i := strings.Index(msg, string(w.marker)); i >= 0 {
			if j := strings.IndexByte(msg[i+len(w.marker):], ':'); j >= 0 {
				msg = msg[i+len(w.marker)+j+1:]
			}
		}
		msg = strings.TrimSpace(msg)
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		st := "ended"
		var ee *gossh.ExitError
		if errors.As(w.exit, &ee) {
			st = fmt.Sprintf("ended with exit status %d", ee.ExitStatus())
			if ee.Signal() != "" {
				st = "was killed by SIG" + ee.Signal()
			}
		}
		if msg != "" {
			return fmt.Errorf("worker session %s: %s", st, msg)
		}
		return fmt.Errorf("worker session %s", st)
	default:
	}
	if cause == nil {
		cause = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("worker session: %w", cause)
}

// lostErr is the connection's fate when the ended session w went down
// with it: sshd sent no exit status because the connection dropped, not
// because the shell died (a killed shell has an exit signal).
func (w *worker) lostErr() error {
	var missing *gossh.ExitMissingError
	if !errors.As(w.exit, &missing) {
		return w.t.connErr(nil)
	}
	if err := w.t.connErr(w.exit); err != w.exit {
		return err
	}
	return nil
}

// greet reads what comes before the first answer: the bootstrap's marker
// (anything before it is a login script's chatter or sudo's refusal) and
// the worker's greeting.
func (w *worker) greet() error {
	line, err := w.hello()
	if err != nil {
		return err
	}
	if reason, ok := strings.CutPrefix(line, "tend-worker unsupported "); ok {
		return fmt.Errorf("%w: %s", errWorkerUnsupported, reason)
	}
	if line != "tend-worker ok" {
		return w.deadErr(fmt.Errorf("unexpected greeting %q", line))
	}
	return nil
}

// hello reads the bootstrap's marker (anything before it is a login
// script's chatter or sudo's refusal) and returns the program's first
// line, without its newline.
func (w *worker) hello() (string, error) {
	var pending []byte
	for {
		b, err := w.out.ReadByte()
		if err != nil {
			// The shell never started: sudo refused, no /bin/sh...
			select {
			case <-w.done:
			case <-time.After(5 * time.Second):
				return "", w.deadErr(err)
			}
			status := 0
			var ee *gossh.ExitError
			if errors.As(w.exit, &ee) {
				status = ee.ExitStatus()
			}
			if err := w.lostErr(); err != nil {
				return "", err
			}
			return "", w.t.launchError(status, pending, []byte(w.stderr.String()))
		}
		pending = append(pending, b)
		if len(pending) > maxPending {
			pending = pending[len(pending)-maxPending:]
		}
		if bytes.HasSuffix(pending, w.marker) {
			break
		}
	}
	ids, err := w.out.ReadString(':')
	if err != nil {
		return "", w.deadErr(err)
	}
	pid, pgid, _ := strings.Cut(strings.TrimSuffix(ids, ":"), ".")
	if n, err := strconv.Atoi(pid); err == nil {
		w.pid.Store(int64(n))
	}
	if n, err := strconv.Atoi(pgid); err == nil {
		w.pgid.Store(int64(n))
	}
	line, err := w.out.ReadString('\n')
	if err != nil {
		return "", w.deadErr(err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// wrun is one Run on a worker, shared between the Run (which may give up
// when its context ends) and the goroutine talking to the worker.
type wrun struct {
	mu        sync.Mutex
	pid       int
	cancelled bool
	killed    bool
}

// workerResult is how a Run on a worker ended.
type workerResult struct {
	res *transport.Result
	err error
	// retry means the worker could not run the script at all (the host
	// cannot run workers): run it in a session of its own instead.
	retry bool
}

// runWorker runs script with stdin on a worker. A nil result with a nil
// error means the host cannot run workers.
func (t *Transport) runWorker(ctx context.Context, script string, stdin []byte) (*transport.Result, error) {
	w, err := t.acquire(ctx)
	if err != nil || w == nil {
		return nil, err
	}
	id := transport.NewNonce()[:16]
	r := &wrun{}
	resc := make(chan workerResult, 1)
	go func() {
		res := w.run(id, script, stdin, r)
		r.mu.Lock()
		cancelled := r.cancelled
		r.mu.Unlock()
		if errors.Is(res.err, errWorkerUnsupported) {
			t.pool.mu.Lock()
			if t.pool.unsupported == nil {
				t.pool.unsupported = res.err
				fmt.Fprintf(t.warn, "tend: %s: %v; running each script in a session of its own\n", t.name, res.err)
			}
			t.pool.mu.Unlock()
			res = workerResult{retry: true}
		} else {
			t.scripts.Add(1)
		}
		t.put(w)
		if !cancelled {
			resc <- res
		}
	}()
	select {
	case res := <-resc:
		if res.retry {
			return nil, nil
		}
		return res.res, res.err
	case <-ctx.Done():
		r.mu.Lock()
		r.cancelled = true
		pid := r.pid
		if pid > 0 {
			r.killed = true
		}
		r.mu.Unlock()
		if pid > 0 {
			go t.kill(id, pid)
		}
		return nil, ctx.Err()
	}
}

// run sends one frame to w and reads its answers.
func (w *worker) run(id, script string, stdin []byte, r *wrun) workerResult {
	if err := w.err(); err != nil {
		return workerResult{err: err}
	}
	frame := make([]byte, 0, len(script)+len(stdin)+64)
	frame = fmt.Appendf(frame, "%s %d %d\n", id, len(script), len(stdin))
	frame = append(frame, script...)
	frame = append(frame, stdin...)
	// Write in the background: a large stdin flows while the worker's dd
	// reads it, and a worker that died is noticed by the reader.
	werr := make(chan error, 1)
	go func() {
		_, err := w.stdin.Write(frame)
		werr <- err
	}()
	if !w.ready {
		if err := w.greet(); err != nil {
			w.fail(err)
			return workerResult{err: err}
		}
		w.ready = true
	}
	line, err := w.out.ReadString('\n')
	if err != nil {
		err = w.deadErr(err)
		w.fail(err)
		return workerResult{err: err}
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != id || f[1] != "pid" {
		err := w.deadErr(fmt.Errorf("unexpected answer %q", strings.TrimSpace(line)))
		w.fail(err)
		return workerResult{err: err}
	}
	pid, _ := strconv.Atoi(f[2])
	r.mu.Lock()
	r.pid = pid
	kill := r.cancelled && !r.killed
	r.killed = r.killed || kill
	r.mu.Unlock()
	if kill {
		go w.t.kill(id, pid)
	}
	if err := <-werr; err != nil {
		err = w.deadErr(err)
		w.fail(err)
		return workerResult{err: err}
	}
	line, err = w.out.ReadString('\n')
	if err != nil {
		err = w.deadErr(err)
		w.fail(err)
		return workerResult{err: err}
	}
	f = strings.Fields(line)
	status := 0
	if len(f) == 3 && f[0] == id && f[1] == "exit" {
		status, err = strconv.Atoi(f[2])
	}
	if err != nil || len(f) != 3 || f[0] != id || f[1] != "exit" {
		err := w.deadErr(fmt.Errorf("unexpected answer %q", strings.TrimSpace(line)))
		w.fail(err)
		return workerResult{err: err}
	}
	out, err := readUntil(w.out, "\x1e"+id+"-o\x1e")
	if err != nil {
		err = w.deadErr(err)
		w.fail(err)
		return workerResult{err: err}
	}
	errb, err := readUntil(w.out, "\x1e"+id+"-e\x1e\n")
	if err != nil {
		err = w.deadErr(err)
		w.fail(err)
		return workerResult{err: err}
	}
	return workerResult{res: &transport.Result{Stdout: out, Stderr: errb, ExitStatus: status}}
}

// readUntil returns what r holds before trailer and consumes the trailer,
// whose first byte (RS) occurs rarely in output, so reads stop there.
func readUntil(r *bufio.Reader, trailer string) ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.ReadSlice(trailer[0])
		out = append(out, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// out ends with trailer[0]: does the rest of the trailer follow?
		rest, err := r.Peek(len(trailer) - 1)
		if string(rest) == trailer[1:] {
			_, _ = r.Discard(len(rest))
			return out[:len(out)-1], nil
		}
		if err != nil && bytes.HasPrefix([]byte(trailer[1:]), rest) {
			return nil, err // the stream ended inside the trailer
		}
	}
}

// kill ends the process group of a cancelled script from a session of its
// own (see killScript), leaving its worker to report the script's end and
// take the next one.
func (t *Transport) kill(id string, pid int) { t.killGroup(id, pid, pid) }

// killGroup runs killScript(nonce, pid, pgid) in a session of its own,
// retrying while the server refuses sessions.
func (t *Transport) killGroup(nonce string, pid, pgid int) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _, err = t.exec(ctx, "cancel", killScript(nonce, pid, pgid), nil, io.Discard, nil, false)
		cancel()
		if err == nil || t.connErr(nil) != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond)
	}
	if err != nil && t.connErr(nil) == nil {
		fmt.Fprintf(t.warn, "tend: %s: could not stop a cancelled script (pid %d): %v\n", t.name, pid, err)
	}
}

// sizedStdin returns the bytes of stdin when they can go through a worker:
// none, or a reader that knows its length (bytes.Reader, strings.Reader,
// bytes.Buffer), within maxWorkerStdin. It reads such a reader to its end.
func sizedStdin(stdin io.Reader) (data []byte, ok bool, err error) {
	if stdin == nil {
		return nil, true, nil
	}
	l, ok := stdin.(interface{ Len() int })
	if !ok || l.Len() > maxWorkerStdin {
		return nil, false, nil
	}
	data, err = io.ReadAll(stdin)
	if err != nil {
		return nil, false, fmt.Errorf("read stdin: %w", err)
	}
	return data, true, nil
}
