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

// Run upgrades the host over t. It returns the connection to use from
// then on (a new one after a reboot), the upgrades made and whether the
// host was rebooted; say tells each step as it happens.
func (s *Step) Run(ctx context.Context, t transport.Transport, say func(string)) (transport.Transport, []Upgrade, bool, error) {
	done, err := s.Manager.Upgrade(ctx, t, s.Pending, s.SecurityOnly)
	for _, u := range done {
		say(fmt.Sprintf("%s %s → %s", u.Name, orNew(u.From), u.To))
	}
	if err != nil {
		return t, done, false, err
	}
	need := s.Reboot == "always"
	if s.Reboot == "auto" {
		if need, err = s.Manager.RebootRequired(ctx, t); err != nil {
			return t, done, false, err
		}
	}
	if !need {
		return t, done, false, nil
	}
	start := time.Now()
	nt, err := s.rebootAndWait(ctx, t)
	if err != nil {
		return nt, done, false, err
	}
	say(fmt.Sprintf("rebooted, back after %s", time.Since(start).Round(time.Second)))
	return nt, done, true, nil
}

// rebootAndWait reboots a host and reconnects once it is back with a new
// boot identity.
func (s *Step) rebootAndWait(ctx context.Context, t transport.Transport) (transport.Transport, error) {
	before, err := BootID(ctx, t)
	if err != nil {
		return t, fmt.Errorf("reading the boot id: %w", err)
	}
	if _, err := transport.Output(ctx, t, transport.Command{Script: RebootScript}); err != nil {
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
		id, err := BootID(actx, nt)
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
