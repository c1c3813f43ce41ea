package transport

import (
	"testing"
	"time"
)

func TestLockedErrorNamesHolder(t *testing.T) {
	e := &LockedError{Path: "/run/lock/tend.lock", Holder: LockInfo{
		RunID: "20261206T101500Z-ab12cd", User: "alice", Controller: "ctl1", PID: 4242,
		Started: time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC),
	}}
	want := "host is locked by run 20261206T101500Z-ab12cd (user alice on ctl1, pid 4242, since 2026-12-06 10:15:00 UTC)"
	if got := e.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	unknown := (&LockedError{Path: "/run/lock/tend.lock"}).Error()
	if want := "host is locked by another run (which one is unknown: no holder record next to /run/lock/tend.lock)"; unknown != want {
		t.Errorf("got  %s\nwant %s", unknown, want)
	}
}

func TestLockInfoText(t *testing.T) {
	in := LockInfo{RunID: "r1", User: "bob\nevil=1", Controller: "c", PID: 7, Command: "tend apply -x", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := in.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var out LockInfo
	if err := out.UnmarshalText(append(b, "host_pid=99\n"...)); err != nil {
		t.Fatal(err)
	}
	in.User = "bob evil=1"
	if out != in {
		t.Errorf("round trip:\n got %+v\nwant %+v\nrecord %q", out, in, b)
	}
	if err := out.UnmarshalText([]byte("user=x\n")); err == nil {
		t.Error("a record without a run ID was accepted")
	}
}
