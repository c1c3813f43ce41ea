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
	}})
	want := "\nPatch failed on 1 of 3 hosts; 0 succeeded:\n  h1 (failed: apt-get: exit 100)\nNot started: h2, h3.\n"
	if ok || b.String() != want {
		t.Errorf("ok %v\n got %q\nwant %q", ok, b.String(), want)
	}
	b.Reset()
	ok = printPatchSummary(&b, &engine.Result{Hosts: []*engine.HostResult{{Name: "h1", Outcome: engine.Success, Applied: 2}}})
	if want := "\nPatch complete: 2 packages upgraded on 1 host.\n"; !ok || b.String() != want {
		t.Errorf("ok %v\n got %q\nwant %q", ok, b.String(), want)
	}
}
