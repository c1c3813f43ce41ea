package cli

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tendhq/tend/engine"
)

// TestPatchSummaryNotStarted: hosts a stopped rollout never started are
// listed as not started, not as failed with a nil error.
func TestPatchSummaryNotStarted(t *testing.T) {
	var b bytes.Buffer
	ok := printPatchSummary(&b, &engine.Result{Hosts: []*engine.HostResult{
		{Name: "h1", Outcome: engine.Failed, Err: errors.New("apt-get: exit 100")},
		{Name: "h2", Outcome: engine.NotStarted},
		{Name: "h3", Outcome: engine.NotStarted},
	}}, nil)
	want := "\nPatch failed on 1 of 3 hosts; 0 succeeded:\n  h1 (failed: apt-get: exit 100)\nNot started: h2, h3.\n"
	if ok || b.String() != want {
		t.Errorf("ok %v\n got %q\nwant %q", ok, b.String(), want)
	}
	b.Reset()
	ok = printPatchSummary(&b, &engine.Result{Hosts: []*engine.HostResult{{Name: "h1", Outcome: engine.Success, Applied: 2}}}, nil)
	if want := "\nPatch complete: 2 packages upgraded on 1 host.\n"; !ok || b.String() != want {
		t.Errorf("ok %v\n got %q\nwant %q", ok, b.String(), want)
	}
	// --reboot never: the hosts waiting for a reboot are named; the patch
	// still succeeded.
	b.Reset()
	ok = printPatchSummary(&b, &engine.Result{Hosts: []*engine.HostResult{{Name: "h1", Outcome: engine.Success, Applied: 1}}}, []string{"h1"})
	if want := "\nReboot required, not rebooted (--reboot never): h1.\nPatch complete: 1 package upgraded on 1 host.\n"; !ok || b.String() != want {
		t.Errorf("ok %v\n got %q\nwant %q", ok, b.String(), want)
	}
}

// TestApplySummaryRolloutStopped: a rollout stopped by a failed batch
// lists the failed host, the hosts rolled back with its batch (no error
// of their own) and the hosts never started, each for what it is.
func TestApplySummaryRolloutStopped(t *testing.T) {
	var b bytes.Buffer
	c := &common{io: IO{Stdout: &b}}
	printApplySummary(c, &engine.Result{Hosts: []*engine.HostResult{
		{Name: "r1", Outcome: engine.Success, Applied: 2},
		{Name: "r3", Outcome: engine.RolledBack, Applied: 2, Reverted: 2},
		{Name: "r4", Outcome: engine.RolledBack, Applied: 2, Reverted: 2, Err: errors.New("health check failed")},
		{Name: "r6", Outcome: engine.NotStarted},
	}}, engine.Rollback, "RUN", "J")
	want := "\nApply failed on 1 of 4 hosts; 1 succeeded.\n" +
		"  r4 (failed, rolled back 2 changes: health check failed)\n" +
		"Rolled back with their batch: r3 (2 changes).\n" +
		"Not started: r6.\n" +
		"Run RUN journaled in J\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
