// Package faults is tend's fault-injection suite: the real tend binary
// applies a configuration to lab hosts (integration/lab) while the test
// breaks something — kills or signals tend, closes its stdout, kills a
// host or its sshd, stalls its SSH session, runs a second apply against the
// same hosts, fills the journal's file system — and then checks what an
// operator woken at 3 a.m. relies on. It runs only with TEND_LAB=1, as
// root, like integration/e2e.
//
// # Workload
//
// Every host gets the same configuration: three batches of files
// (/srv/tendfault/b1..b3), each with new files in one directory (enough
// that the file batch stages them) and pre-existing files the run rewrites,
// some with set-id bits or odd owners, plus one rewritten file alone in its
// own directory. Slow exec resources separate the batches (b1 → gate1 → b2
// → gate2 → b3); each touches /var/tmp/tendfault/gateN first, so the test,
// polling the host's root from outside, knows a batch is done. A variant
// ends with a failing exec so the run rolls back. Faults are timed by
// polling the host: "before" is tend printing "Applying (run ID)", "inside
// a batch" is the first new entry in batch 2's directory, "between
// batches" is gate1 appearing, "during rollback" is a new file of batch 3
// disappearing after the failing exec ran.
//
// # The invariant
//
// Before each run the test records every managed path's pre-run state
// (existence, sha256 of the content, mode with set-id bits, uid:gid) and
// computes the new state the configuration declares. After the fault,
// once tend has exited, each path on each host must be at exactly one of
// the two, the journal (read with journal.Read, never as a file) must say
// which — an applied entry for the new state; pending, skipped, failed,
// not_applied or reverted for the pre-run state; unknown for either — and
// the host must not change any more (no worker outliving tend). Then `tend
// rollback RUN -y` must bring every path back to its pre-run state byte
// for byte, leave nothing else in the managed directories (no staging
// left), mark reverted only what it restored, and exit 0; or, in the
// resume scenario, `tend resume RUN -y` must bring every path to the new
// state with every entry applied.
//
// # Networks
//
// TestNetwork runs the same workload and the same invariant on ten hosts
// reached through proxies with real network conditions (integration/netem):
// a 50 ms round trip with jitter on every link, one link carrying nothing
// for 30 s while the others must finish (their host_outcome events are all
// out before it is released), a connection reset in the middle of a batch,
// and a large file over 1 Mbit/s links.
//
// The lab boots once per test function and the pre-run files are rewritten
// before every subtest. The session stall lasts stallFor (a minute): longer
// than any read deadline tend might have shorter than a keepalive round.
package faults
