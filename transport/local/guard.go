package local

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
)

// The guard is a small sh process, started once per tend process, that
// kills the process groups of the scripts still running when tend dies.
// tend writes "+PGID" when a script starts and "-PGID" when it has ended
// on the guard's standard input, a pipe whose write end only tend holds
// (close-on-exec: scripts do not inherit it). When tend dies, SIGKILL
// included, the kernel closes that end, the guard reads EOF and kills the
// groups listed. It is in a process group of its own, so that a ^C meant
// for tend does not end it. A script that tend is killed between starting
// and listing (microseconds) is not covered.
const guardProgram = `g=' '
while read -r op p; do
	case $op in
	+) g="$g$p " ;;
	-) case "$g" in *" $p "*) g="${g%% $p *} ${g#* $p }" ;; esac ;;
	esac
done
for p in $g; do kill -s KILL -- "-$p" 2>/dev/null; done
`

type scriptGuard struct {
	mu  sync.Mutex
	w   io.WriteCloser
	err error // set once the guard is gone
}

var (
	guardOnce sync.Once
	theGuard  *scriptGuard
	guardErr  error
)

// guard returns the process's guard, starting it on first use.
func guard() (*scriptGuard, error) {
	guardOnce.Do(func() {
		cmd := exec.Command("/bin/sh", "-c", guardProgram)
		ownProcessGroup(cmd)
		w, err := cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			guardErr = fmt.Errorf("start the script guard: %w", err)
			return
		}
		g := &scriptGuard{w: w}
		go func() {
			err := cmd.Wait()
			g.mu.Lock()
			if err == nil {
				err = errors.New("exited")
			}
			g.err = fmt.Errorf("script guard: %w", err)
			g.mu.Unlock()
		}()
		theGuard = g
	})
	return theGuard, guardErr
}

func (g *scriptGuard) send(op byte, pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return
	}
	if _, err := fmt.Fprintf(g.w, "%c %d\n", op, pgid); err != nil {
		g.err = err
	}
}

// watch lists a script's process group (its PID: scripts run with
// Setpgid) for the guard; unwatch takes it off once the script ended.
func (g *scriptGuard) watch(pgid int)   { g.send('+', pgid) }
func (g *scriptGuard) unwatch(pgid int) { g.send('-', pgid) }
