package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// interrupts decides what SIGINT and SIGTERM do. While nothing is being
// changed, the first one cancels the command. While a run changes hosts,
// the first asks it to start no new change (its hosts then follow the
// failure policy, rollback by default, to the end) and the second stops
// at once, saying how to roll back or resume.
type interrupts struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
	w      io.Writer
	// soft is set while a run changes hosts.
	soft func()
	// after is what to do once stopped at once.
	after string
	// policy says what the run does after the first interrupt.
	policy string
}

func (s *interrupts) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	switch {
	case s.soft != nil && s.n == 1:
		fmt.Fprintf(s.w, "\nInterrupt received (%s): no new change will start; the changes in flight finish, then %s. Interrupt again to stop at once.\n", sig, s.policy)
		s.soft()
	case s.soft != nil:
		fmt.Fprintf(s.w, "\nStopping at once (%s). The run is left as it is; see what it did with tend runs, then:\n%s", sig, s.after)
		s.cancel()
	case s.n == 1:
		// Nothing is being changed (planning, a prompt, the summary):
		// stop now.
		fmt.Fprintf(s.w, "\nInterrupt received (%s): stopping; no change is under way.\n", sig)
		s.cancel()
	default:
		s.cancel()
	}
}

// running registers a run that changes hosts; done unregisters it.
func (s *interrupts) running(soft func(), policy, after string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.soft, s.policy, s.after = soft, policy, after
	if s.n > 0 {
		// Interrupted before the run began: nothing was changed yet.
		soft()
	}
}

// via makes the interrupt messages go through wrap(w), e.g. above a live
// status block.
func (s *interrupts) via(wrap func(io.Writer) io.Writer) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = wrap(s.w)
}

func (s *interrupts) done() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.soft = nil
}

// resumeHint is what to run after a run stopped at once.
func resumeHint(runID string) string {
	return fmt.Sprintf("  tend rollback %s   (revert what it made)\n  tend resume %s     (finish it)\n", runID, runID)
}
