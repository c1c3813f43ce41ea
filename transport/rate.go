package transport

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ConnectRate spaces out new connections: at most Rate a second on
// average, each start at a random point of its own slot of 1/Rate, so that
// thousands of hosts do not all knock at once (sshd's MaxStartups drops
// connections beyond its limit of unauthenticated ones; a bastion sees
// every one). It is a token bucket holding one token: time not used does
// not pile up into a later burst. Safe for concurrent use; a nil
// *ConnectRate lets every connection start at once.
type ConnectRate struct {
	rate     float64
	interval time.Duration

	mu   sync.Mutex
	next time.Time // start of the next free slot

	// now and jitter are the clock and the random offset in [0, d);
	// tests replace them.
	now    func() time.Time
	jitter func(d time.Duration) time.Duration
}

// NewConnectRate returns a limiter of perSecond new connections a second.
func NewConnectRate(perSecond float64) *ConnectRate {
	return &ConnectRate{
		rate:     perSecond,
		interval: time.Duration(float64(time.Second) / perSecond),
		now:      time.Now,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
	}
}

// ParseConnectRate reads a rate as --connect-rate takes it: "N/s", "N/m"
// or a bare N (a second); N may have a fraction. "0" or "" mean no limit
// (nil).
func ParseConnectRate(s string) (*ConnectRate, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return nil, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	per := time.Second
	switch unit {
	case "", "s":
	case "m":
		per = time.Minute
	default:
		return nil, fmt.Errorf("connect rate %q: unit %q after the slash: want N/s or N/m", s, unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || n > 1e6 {
		return nil, fmt.Errorf("connect rate %q: %q is not a number of connections from 0 to 1000000", s, num)
	}
	if n == 0 {
		return nil, nil
	}
	return NewConnectRate(n * float64(time.Second) / float64(per)), nil
}

// String is the rate as ParseConnectRate reads it.
func (r *ConnectRate) String() string {
	if r == nil {
		return "0"
	}
	return strconv.FormatFloat(r.rate, 'g', -1, 64) + "/s"
}

// reserve takes the next slot and returns how long from now the
// connection must wait for it.
func (r *ConnectRate) reserve() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	slot := r.next
	if slot.Before(now) {
		slot = now
	}
	r.next = slot.Add(r.interval)
	return slot.Add(r.jitter(r.interval)).Sub(now)
}

// Wait blocks until the caller may open a connection, or ctx ends (then
// its error). Its slot is spent either way.
func (r *ConnectRate) Wait(ctx context.Context) error {
	if r == nil {
		return ctx.Err()
	}
	d := r.reserve()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
