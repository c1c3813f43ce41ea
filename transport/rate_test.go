package transport

import (
	"context"
	"testing"
	"time"
)

// fakeRate is a limiter on a clock that moves only when told, with a
// fixed jitter of frac of a slot.
func fakeRate(perSecond float64, frac float64) (*ConnectRate, *time.Time) {
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewConnectRate(perSecond)
	r.now = func() time.Time { return now }
	r.jitter = func(d time.Duration) time.Duration { return time.Duration(frac * float64(d)) }
	return r, &now
}

// startsBy counts how many of the reserved delays let a connection start
// within d of the reservation.
func startsBy(delays []time.Duration, d time.Duration) int {
	n := 0
	for _, x := range delays {
		if x <= d {
			n++
		}
	}
	return n
}

func TestConnectRateSpacesABurst(t *testing.T) {
	for _, frac := range []float64{0, 0.5, 0.999} {
		r, _ := fakeRate(10, frac)
		var delays []time.Duration
		for i := 0; i < 100; i++ {
			delays = append(delays, r.reserve())
		}
		// 100 hosts asking at once at 10/s: 10 start in each second.
		for sec := 1; sec <= 10; sec++ {
			got := startsBy(delays, time.Duration(sec)*time.Second-time.Nanosecond)
			if got != 10*sec {
				t.Errorf("jitter %.3f: %d connections started within %ds, want %d", frac, got, sec, 10*sec)
			}
		}
		// Every start lies in its own slot: never two in one tenth.
		for i, d := range delays {
			lo, hi := time.Duration(i)*100*time.Millisecond, time.Duration(i+1)*100*time.Millisecond
			if d < lo || d >= hi {
				t.Errorf("jitter %.3f: connection %d waits %s, want within [%s, %s)", frac, i, d, lo, hi)
			}
		}
	}
}

func TestConnectRateDoesNotSaveUpABurst(t *testing.T) {
	r, now := fakeRate(10, 0)
	for i := 0; i < 5; i++ {
		r.reserve()
	}
	// An idle minute: the next ones are spaced again, not let through at
	// once on time saved.
	*now = now.Add(time.Minute)
	var delays []time.Duration
	for i := 0; i < 20; i++ {
		delays = append(delays, r.reserve())
	}
	if got := startsBy(delays, 0); got != 1 {
		t.Errorf("%d connections start at once after an idle minute, want 1", got)
	}
	if got := startsBy(delays, time.Second-time.Nanosecond); got != 10 {
		t.Errorf("%d connections start in the first second after an idle minute, want 10", got)
	}
	// Time moving as connections are made: a caller arriving after its
	// slot passed starts at once.
	*now = now.Add(time.Hour)
	if d := r.reserve(); d != 0 {
		t.Errorf("a lone connection waits %s, want 0", d)
	}
}

func TestConnectRateWait(t *testing.T) {
	var none *ConnectRate
	if err := none.Wait(context.Background()); err != nil {
		t.Errorf("nil limiter: %v", err)
	}
	r, _ := fakeRate(1, 0)
	if err := r.Wait(context.Background()); err != nil {
		t.Fatalf("first slot: %v", err)
	}
	// The next slot is a (fake) second away; a cancelled context ends the
	// wait with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Wait(ctx); err != context.Canceled {
		t.Errorf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestParseConnectRate(t *testing.T) {
	for in, want := range map[string]string{
		"50/s": "50/s", "50": "50/s", "600/m": "10/s", "0.5": "0.5/s", "0": "0", "": "0", "0/s": "0",
	} {
		r, err := ParseConnectRate(in)
		if err != nil {
			t.Errorf("ParseConnectRate(%q): %v", in, err)
			continue
		}
		if got := r.String(); got != want {
			t.Errorf("ParseConnectRate(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"fast", "10/h", "-1/s", "1e9", "/s"} {
		if _, err := ParseConnectRate(in); err == nil {
			t.Errorf("ParseConnectRate(%q) = nil error, want one", in)
		}
	}
}
