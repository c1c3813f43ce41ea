package patch

import (
	"context"
	"fmt"
	"time"

	"github.com/tendhq/tend/transport"
)

// Step is one host's patch: its pending upgrades, then a reboot when
// asked for (auto: when the host says one is required), waiting until
// the host is back with a new boot identity.
type Step struct {
	Manager       Manager
	Pending       []Upgrade
	SecurityOnly  bool
	Reboot        string // auto, never or always
	RebootTimeout time.Duration
	// Connect opens a new connection to the host (after a reboot).
	Connect func(ctx context.Context) (transport.Transport, error)
}

// What a step tells as it happens.
const (
	SaidUpgraded      = "upgraded"       // a package upgraded: "name from → to"
	SaidRebooted      = "rebooted"       // the host rebooted and is back
	SaidRebootPending = "reboot_pending" // the host asks for a reboot it was not given
)

// Result is what a step did.
type Result struct {
	Upgraded []Upgrade
	Rebooted bool
	// RebootPending: the host asks for a reboot and --reboot never kept
	// it from having one.
	RebootPending bool
}

// Run upgrades the host over t. It returns the connection to use from
// then on (a new one after a reboot) and what it did; say tells each
// step as it happens (what: one of the Said constants).
func (s *Step) Run(ctx context.Context, t transport.Transport, say func(what, msg string)) (transport.Transport, Result, error) {
	var r Result
	done, err := s.Manager.Upgrade(ctx, t, s.Pending, s.SecurityOnly)
	r.Upgraded = done
	for _, u := range done {
		say(SaidUpgraded, fmt.Sprintf("%s %s → %s", u.Name, orNew(u.From), u.To))
	}
	if err != nil {
		return t, r, err
	}
	need := s.Reboot == "always"
	if s.Reboot != "always" {
		// Asked under never too: an operator who keeps reboots for
		// later must hear which hosts wait for one.
		if need, err = s.Manager.RebootRequired(ctx, t); err != nil {
			return t, r, err
		}
		if need && s.Reboot == "never" {
			r.RebootPending = true
			say(SaidRebootPending, "reboot required, not rebooted (--reboot never)")
			return t, r, nil
		}
	}
	if !need {
		return t, r, nil
	}
	start := time.Now()
	nt, err := s.rebootAndWait(ctx, t)
	if err != nil {
		return nt, r, err
	}
	r.Rebooted = true
	say(SaidRebooted, fmt.Sprintf("rebooted, back after %s", time.Since(start).Round(time.Second)))
	return nt, r, nil
}

// rebootAndWait reboots a host and reconnects once it is back with a new
// boot identity.
func (s *Step) rebootAndWait(ctx context.Context, t transport.Transport) (transport.Transport, error) {
	bootID, script := BootID, RebootScript
	if r, ok := s.Manager.(Rebooter); ok {
		bootID, script = r.BootID, r.RebootScript()
	}
	before, err := bootID(ctx, t)
	if err != nil {
		return t, fmt.Errorf("reading the boot id: %w", err)
	}
	if _, err := transport.Output(ctx, t, transport.Command{Script: script}); err != nil {
		return t, fmt.Errorf("asking for a reboot: %w", err)
	}
	t.Close()
	deadline := time.Now().Add(s.RebootTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nt, err := s.Connect(actx)
		if err != nil {
			cancel()
			last = err
			continue
		}
		id, err := bootID(actx, nt)
		cancel()
		if err == nil && id != before {
			return nt, nil
		}
		nt.Close()
		if err != nil {
			last = err
		}
	}
	return nil, fmt.Errorf("the host did not come back within %s after the reboot (last: %v)", s.RebootTimeout, last)
}

func orNew(v string) string {
	if v == "" {
		return "(new)"
	}
	return v
}
