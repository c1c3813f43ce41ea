package patch

import (
	"context"
	"testing"

	"github.com/tendhq/tend/transport"
)

// askingManager upgrades everything and asks for a reboot when reboot is
// set, counting how often it was asked.
type askingManager struct {
	reboot bool
	asked  int
}

func (m *askingManager) Pending(context.Context, transport.Transport, bool) ([]Upgrade, error) {
	return nil, nil
}

func (m *askingManager) Upgrade(_ context.Context, _ transport.Transport, p []Upgrade, _ bool) ([]Upgrade, error) {
	return p, nil
}

func (m *askingManager) RebootRequired(context.Context, transport.Transport) (bool, error) {
	m.asked++
	return m.reboot, nil
}

// TestRebootNeverTells: with --reboot never a host that asks for a reboot
// is not rebooted, and the step says so instead of keeping quiet.
func TestRebootNeverTells(t *testing.T) {
	for _, tt := range []struct {
		asks bool
		want bool
	}{{true, true}, {false, false}} {
		m := &askingManager{reboot: tt.asks}
		s := &Step{Manager: m, Pending: []Upgrade{{Name: "libc6", From: "1", To: "2"}}, Reboot: "never"}
		var said []string
		_, r, err := s.Run(context.Background(), nil, func(what, msg string) { said = append(said, what) })
		if err != nil {
			t.Fatal(err)
		}
		if m.asked != 1 {
			t.Errorf("host asking %v: RebootRequired asked %d times, want 1", tt.asks, m.asked)
		}
		if r.RebootPending != tt.want || r.Rebooted {
			t.Errorf("host asking %v: result %+v, want RebootPending %v and no reboot", tt.asks, r, tt.want)
		}
		pending := false
		for _, w := range said {
			pending = pending || w == SaidRebootPending
		}
		if pending != tt.want {
			t.Errorf("host asking %v: said %v", tt.asks, said)
		}
		if len(r.Upgraded) != 1 {
			t.Errorf("upgraded %v", r.Upgraded)
		}
	}
}
