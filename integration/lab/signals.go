package lab

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// live tracks the labs of this process that are not closed, so that an
// interrupt (Ctrl-C, or SIGTERM from a CI runner) tears them down before the
// process dies. The handler is installed only while at least one lab runs.
var live struct {
	sync.Mutex
	labs map[*Lab]struct{}
	ch   chan os.Signal
}

func register(l *Lab) {
	live.Lock()
	defer live.Unlock()
	if live.labs == nil {
		live.labs = map[*Lab]struct{}{}
	}
	live.labs[l] = struct{}{}
	if live.ch == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		live.ch = ch
		go onSignal(ch)
	}
}

func unregister(l *Lab) {
	live.Lock()
	defer live.Unlock()
	delete(live.labs, l)
	if len(live.labs) == 0 && live.ch != nil {
		signal.Stop(live.ch)
		close(live.ch)
		live.ch = nil
	}
}

// onSignal closes every live lab, then re-raises the signal with its
// default action so the process still dies of it (and its exit status says
// so).
func onSignal(ch chan os.Signal) {
	sig, ok := <-ch
	if !ok {
		return
	}
	live.Lock()
	var labs []*Lab
	for l := range live.labs {
		labs = append(labs, l)
	}
	live.Unlock()
	for _, l := range labs {
		if err := l.Close(); err != nil {
			os.Stderr.WriteString("tend lab: teardown on " + sig.String() + ": " + err.Error() + "\n")
		}
	}
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
	}
}
