// Package engine runs every operation that changes hosts: apply (with
// rollout batches and health checks), resume, rollback and patch are
// variants of one runner. It takes a plan (or a journaled run to revert),
// and for each host, in parallel up to one bound, it takes the host's
// lock, walks the host's changes in dependency order, verifies them,
// and on failure follows the run's policy (revert, stop, continue).
//
// Everything it does is told as a stream of typed events (Event) to the
// run's subscribers: the human and JSON renderers, and the journal,
// which is a subscriber with a veto: an error from a subscriber on a
// change's start (its intent) stops that host before the change is made,
// and on any later event stops the host before its next change. The
// engine itself never writes a journal or prints.
//
// Interrupts: Interrupt asks the engine to start no new change; the
// changes in flight finish, then each host follows the failure policy
// (revert by default) on the run's context. Cancelling that context
// stops at once. When a host's connection is lost, the engine reconnects
// (bounded, with backoff) and reads the state of the change that was in
// flight before deciding what was done.
package engine
