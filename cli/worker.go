package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

// Exit codes of tend worker, for supervisors (a Kubernetes
// podFailurePolicy): ExitOK after a stop it was asked for, ExitError for
// a worker that cannot work (no backend, a schema to migrate, a bad
// flag).

func workerCmd(cio IO) *cobra.Command {
	var concurrency int
	var jobTimeout, rescueAfter, poll, lockTimeout, idleExit time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Apply the hosts of distributed runs (apply --distributed), taking jobs from the backend's queue",
		Long: `Work the backend's job queue (--backend, TEND_BACKEND): each job is one host
of a run started with tend apply --distributed. For each host the worker takes
the host's lease in the backend and the lock on the host, reads the host's
journal in the run first (what a worker that died left in flight is settled
from a new plan, as tend resume does: never made again blindly), re-plans the
host from the run's saved plan (refused as stale if the host changed since),
applies it with the run's --on-failure policy, and journals to the backend.

Workers are stateless and identical: run as many as wanted, anywhere that
reaches the backend, the hosts and the run's configuration directory (at the
path the run was started from). A worker that dies has its jobs given to the
others by the queue once --rescue-after has passed since the job started
(the queue's rescuer looks every 30 seconds). SIGINT or SIGTERM (or --idle-exit) stops
taking jobs and waits for the hosts in hand; the exit code is then 0; 1 means the worker
could not work (no backend, a schema to migrate, a bad flag).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, _, err := backendSpec(cmd, ".")
			if err != nil {
				return err
			}
			if spec == "" {
				return errors.New("tend worker needs a postgres backend: --backend or TEND_BACKEND")
			}
			if rescueAfter == 0 {
				rescueAfter = jobTimeout + time.Minute
			}
			if jobTimeout <= 0 || rescueAfter < jobTimeout {
				return fmt.Errorf("--job-timeout must be positive and --rescue-after at least as long (%s, %s)", jobTimeout, rescueAfter)
			}
			if concurrency < 1 {
				return fmt.Errorf("--concurrency must be at least 1, not %d", concurrency)
			}
			shared, err := cio.connectBackend(cmd.Context(), spec, true)
			if err != nil {
				return err
			}
			pg, err := shared.ForWorker(cmd.Context(), concurrency)
			if err != nil {
				return err
			}
			defer pg.Close()
			out := &lockedWriter{w: cio.Stdout}
			idle := &idleClock{last: time.Now()}
			runs := newRunCache(4)
			w, err := pg.NewWorker(cmd.Context(), backend.WorkerConfig{
				Concurrency: concurrency, JobTimeout: jobTimeout, RescueAfter: rescueAfter, PollInterval: poll,
				Work: func(ctx context.Context, job backend.HostJob, attempt int) error {
					idle.begin()
					defer idle.end()
					err := workHost(ctx, cio, out, pg, runs, job, lockTimeout)
					if err != nil {
						fmt.Fprintf(out, "%s: run %s: %s (attempt %d; the queue tries it again)\n", job.Host, job.RunID, err, attempt)
					}
					return err
				},
			})
			if err != nil {
				return err
			}
			// Jobs in hand finish after an interrupt: their context is
			// not the command's.
			if err := w.Start(context.WithoutCancel(cmd.Context())); err != nil {
				return err
			}
			fmt.Fprintf(out, "Worker %s pid %d: working the jobs of %s, %s at once\n", controllerName(), os.Getpid(), pg.Where(), plural(concurrency, "host", "hosts"))
			var idleC <-chan time.Time
			if idleExit > 0 {
				t := time.NewTicker(min(idleExit, time.Second))
				defer t.Stop()
				idleC = t.C
			}
		wait:
			for {
				select {
				case <-cmd.Context().Done():
					break wait
				case <-idleC:
					if idle.idleFor() >= idleExit {
						fmt.Fprintf(out, "No job for %s (--idle-exit)\n", idleExit)
						break wait
					}
				}
			}
			fmt.Fprintln(out, "Stopping: no new jobs; waiting for the hosts in hand")
			return w.Stop(context.Background())
		},
	}
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "hosts applied at once")
	cmd.Flags().DurationVar(&jobTimeout, "job-timeout", time.Hour, "how long one host's apply may take: then it is interrupted as by Ctrl-C (its --on-failure policy runs)")
	cmd.Flags().DurationVar(&rescueAfter, "rescue-after", 0, "how long after a job started the queue takes it as stuck (its worker died) and gives it to another worker (default: --job-timeout and a minute; a job whose worker still holds its host waits for it)")
	cmd.Flags().DurationVar(&poll, "poll", time.Second, "how often to look for jobs, besides the database's notifications")
	cmd.Flags().DurationVar(&idleExit, "idle-exit", 0, "exit (status 0) once no job has been in hand for this long (0: run until stopped), for workers launched per run (a CI matrix, a Kubernetes Job)")
	cmd.Flags().DurationVar(&lockTimeout, "lock-timeout", 30*time.Second, "how long to wait for a host's lock (a dead worker's lock goes with its connection)")
	return cmd
}

// idleClock tells how long a worker has had no job in hand.
type idleClock struct {
	mu     sync.Mutex
	inHand int
	last   time.Time
}

func (c *idleClock) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inHand++
}

func (c *idleClock) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inHand--
	c.last = time.Now()
}

func (c *idleClock) idleFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inHand > 0 {
		return 0
	}
	return time.Since(c.last)
}

// lockedWriter serialises lines from the hosts a worker applies at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// workerLog prints a worker's events, one line each.
type workerLog struct {
	w     io.Writer
	runID string
}

func (v *workerLog) Event(e *engine.Event) error {
	if e.Kind == engine.Changes {
		for _, it := range e.Items {
			_ = v.Event(it)
		}
		return nil
	}
	switch e.Kind {
	case engine.ChangeApplied:
		fmt.Fprintf(v.w, "%s: %s %s applied (run %s)\n", e.Host, e.Action, e.Address, v.runID)
	case engine.ChangeFailed:
		fmt.Fprintf(v.w, "%s: %s %s failed: %s (run %s)\n", e.Host, e.Action, e.Address, e.Error, v.runID)
	case engine.HostOutcome:
		fmt.Fprintf(v.w, "%s: %s (run %s)\n", e.Host, e.Outcome, v.runID)
	}
	return nil
}

// errHostHeld is a job's error while another live process holds its
// host: the queue tries the job again later.
var errHostHeld = errors.New("host held")

// workHost applies one host of a distributed run: see workerCmd.
func workHost(ctx context.Context, cio IO, out io.Writer, pg *backend.Postgres, runs *runCache, job backend.HostJob, lockTimeout time.Duration) error {
	rc, err := runs.get(job.RunID, func(rc *cachedRun) error {
		savedBytes, onFailure, err := pg.DistPlan(ctx, job.RunID)
		if err != nil {
			return err
		}
		rc.saved, err = plan.Decode("the saved plan of run "+job.RunID, savedBytes)
		rc.onFailure = onFailure
		if err != nil {
			return err
		}
		rc.base, err = pg.RunStart(ctx, job.RunID)
		return err
	})
	if err != nil {
		return err
	}
	lease, holder, err := pg.AcquireHost(ctx, job.RunID, currentUser(), job.Host)
	if err != nil {
		return err
	}
	if holder != nil {
		return fmt.Errorf("%w: %s", errHostHeld, holder)
	}
	defer lease.Release() //nolint:errcheck // an unreleased lease expires
	j, run, err := pg.JoinRun(ctx, job.RunID, lease, rc.base)
	if err != nil {
		return err
	}
	outcome, ok, err := applyHost(ctx, cio, out, j, run, rc, job.Host, lockTimeout)
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The host's outcome is reported even when the job's time ran out,
	// and only by the worker still holding the host: one that lost its
	// lease to another worker leaves the outcome to that one (the job,
	// tried again, finds it in the journal).
	ctx = context.WithoutCancel(ctx)
	if held, err := lease.Held(ctx); err != nil || !held {
		if err == nil {
			err = fmt.Errorf("another worker took %s over", job.Host)
		}
		return err
	}
	return finishHost(ctx, pg, job, outcome, ok)
}

// applyHost re-plans and applies host of run, journaled in j, and
// returns its outcome. A host its run already ended (a worker died
// after applying it, before reporting it) keeps its outcome.
func applyHost(ctx context.Context, cio IO, out io.Writer, j *journal.Journal, run *journal.Run, rc *cachedRun, host string, lockTimeout time.Duration) (string, bool, error) {
	saved, onFailure := rc.saved, rc.onFailure
	var jh *journal.Host
	for _, h := range run.Hosts {
		if h.Name == host {
			jh = h
		}
	}
	if jh == nil {
		return "", false, fmt.Errorf("host %s is not in run %s", host, run.ID)
	}
	if jh.Outcome != "pending" {
		return jh.Outcome, jh.Outcome == engine.Success, nil
	}
	me := fmt.Sprintf("%s pid %d", controllerName(), os.Getpid())
	if err := j.UpdateHost(indexOf(run, host), func(h *journal.Host) { h.Workers = append(h.Workers, me) }); err != nil {
		return "", false, err
	}
	started := false
	for _, e := range jh.Changes {
		if e.Status != journal.Pending {
			started = true
		}
	}
	in := saved.Inputs
	c := &common{io: cio, dir: in.ConfigDir, inventories: in.Inventories, target: in.Target, vars: in.Vars, varFiles: in.VarFiles,
		resources: in.Resources, replace: in.Replace, parallel: 1, lockTimeout: lockTimeout, runID: run.ID, outputs: &runOutputs{}}
	c.io.Stdout, c.io.Stderr = out, out
	fail := func(why string) (string, bool, error) {
		err := j.UpdateHost(indexOf(run, host), func(h *journal.Host) { h.Outcome, h.Error = engine.Failed, why })
		fmt.Fprintf(out, "%s: failed: %s (run %s)\n", host, why, run.ID)
		return engine.Failed, false, err
	}
	shared, err := rc.load(func() (*loaded, error) { return c.load(true) })
	if err != nil {
		return fail(fmt.Sprintf("the run's configuration cannot be loaded here: %s", err))
	}
	l := &loaded{}
	*l = *shared
	hosts := l.hosts[:0:0]
	for _, h := range shared.hosts {
		if h.Name == host {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return fail(fmt.Sprintf("the run's target %q no longer selects %s", in.Target, host))
	}
	l.hosts = hosts
	pl, diags := c.planner(l).Plan(ctx, l.hosts)
	defer closeAll(pl)
	if diags.HasErrors() {
		return fail(diags.Error())
	}
	if !started {
		mine := &plan.JSONPlan{}
		*mine = *saved.Plan
		mine.Hosts = nil
		for _, h := range saved.Plan.Hosts {
			if h.Name == host {
				mine.Hosts = append(mine.Hosts, h)
			}
		}
		if stale := plan.Stale(mine, pl); len(stale) > 0 {
			return fail(fmt.Sprintf("the saved plan is stale: %s", stale[0]))
		}
	} else {
		// What a worker that died left in flight is settled first.
		settleUnknown(j, run, pl)
	}
	lockRun := *run
	lockRun.PID, lockRun.Controller = os.Getpid(), controllerName()
	eng := c.newEngine(&lockRun, j, l, onFailure, &workerLog{w: out, runID: run.ID})
	eng.Subscribers[0] = journal.ResumeRecorder(j, run)
	owed := owedRefreshes(run)
	eng.Notified = map[string][]string{host: owed[host]}
	eng.Entries = resumeEntries(run, pl)
	res := eng.Apply(ctx, pl)
	if len(res.Hosts) != 1 {
		return fail("the engine reported no outcome")
	}
	h := res.Hosts[0]
	return h.Outcome, h.Outcome == engine.Success, nil
}

func indexOf(run *journal.Run, host string) int {
	for i, h := range run.Hosts {
		if h.Name == host {
			return i
		}
	}
	return -1
}

// finishHost reports a host's outcome to the queue; the worker that
// finished the run records the run's outcome.
func finishHost(ctx context.Context, pg *backend.Postgres, job backend.HostJob, outcome string, ok bool) error {
	done, err := pg.FinishHost(ctx, job.RunID, job.Host, outcome, ok)
	if err != nil || !done.Finished {
		return err
	}
	j, run, err := pg.JoinRun(ctx, job.RunID, nil, nil)
	if err != nil {
		return err
	}
	notStarted := map[string]bool{}
	for _, h := range done.NotStarted {
		notStarted[h] = true
	}
	for i, h := range run.Hosts {
		if notStarted[h.Name] && h.Outcome == "pending" {
			if err := j.UpdateHost(i, func(h *journal.Host) { h.Outcome = engine.NotStarted }); err != nil {
				j.Close()
				return err
			}
		}
	}
	err = j.Update(func(r *journal.Run) {
		r.Outcome, r.Finished = engine.Success, time.Now().UTC()
		for _, h := range r.Hosts {
			if h.Outcome != engine.Success {
				r.Outcome = engine.Failed
			}
		}
		for i, b := range r.Batches {
			if i >= len(done.Batches) {
				break
			}
			b.Outcome = "applied"
			for _, h := range done.Batches[i] {
				switch o := done.Outcomes[h]; {
				case notStarted[h] || o == "not_started":
					b.Outcome = "not_started"
				case o != "" && o[0] == '!' && b.Outcome == "applied":
					b.Outcome, b.Detail = "failed", done.Stopped
				}
			}
		}
	})
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return pg.EndQueued(ctx, job.RunID)
}

// runCache keeps, for the last few runs a worker had jobs of, what every
// job of a run needs and is the same for all of them: the run's saved
// plan, its first journal records replayed, and its configuration and
// inventory, loaded once (by the first
// job that needs them) instead of once per host.
type runCache struct {
	mu   sync.Mutex
	max  int
	runs map[string]*cachedRun
	used []string // run IDs, least recently used first
}

func newRunCache(max int) *runCache {
	return &runCache{max: max, runs: map[string]*cachedRun{}}
}

// cachedRun is a run's entry in a runCache.
type cachedRun struct {
	saved     *plan.Saved
	onFailure string
	// base is the run as the records it started with replay, shared
	// by its hosts' journals (see backend.Postgres.JoinRun).
	base *journal.Run

	ready chan struct{} // closed once saved is set (or err)
	err   error

	loadMu sync.Mutex
	l      *loaded
}

// get returns run id's entry, filled by fill when it is not cached: one
// caller fills it while the others wait. An entry that could not be
// filled is not kept.
func (rc *runCache) get(id string, fill func(*cachedRun) error) (*cachedRun, error) {
	rc.mu.Lock()
	e, ok := rc.runs[id]
	if !ok {
		e = &cachedRun{ready: make(chan struct{})}
		rc.runs[id] = e
		if len(rc.used) >= rc.max {
			delete(rc.runs, rc.used[0])
			rc.used = rc.used[1:]
		}
	} else {
		for i, u := range rc.used {
			if u == id {
				rc.used = append(rc.used[:i], rc.used[i+1:]...)
				break
			}
		}
	}
	rc.used = append(rc.used, id)
	rc.mu.Unlock()
	if ok {
		<-e.ready
		if e.err != nil {
			return rc.get(id, fill)
		}
		return e, nil
	}
	e.err = fill(e)
	if e.err != nil {
		rc.drop(id, e)
	}
	close(e.ready)
	return e, e.err
}

func (rc *runCache) drop(id string, e *cachedRun) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.runs[id] != e {
		return
	}
	delete(rc.runs, id)
	for i, u := range rc.used {
		if u == id {
			rc.used = append(rc.used[:i], rc.used[i+1:]...)
			break
		}
	}
}

// load returns the run's configuration and inventory, loaded by load
// the first time (again after a failure). Its jobs share them read-only.
func (e *cachedRun) load(load func() (*loaded, error)) (*loaded, error) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if e.l != nil {
		return e.l, nil
	}
	l, err := load()
	if err != nil {
		return nil, err
	}
	e.l = l
	return l, nil
}
