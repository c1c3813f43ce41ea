package cli

import (
	"errors"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/engine"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/plan"
)

// runOutputs are the files a command writes for the systems watching the
// fleet, beside what it prints: Prometheus metrics (--metrics-file) and
// the event stream for log pipelines (--events). Commands feed it what
// they learn (a plan, the engine's events, pending upgrades); it writes
// the files when the command ends, whatever its outcome. Its methods do
// nothing on a nil receiver or when neither flag is given.
type runOutputs struct {
	command     string
	metricsPath string
	eventsPath  string

	mu      sync.Mutex
	started time.Time
	user    string
	runID   string
	// engineRan is set once the engine emitted run_started: it then
	// reports the run's start and end itself.
	engineRan bool
	hosts     map[string]*hostRecord
	order     []string
	events    *eventWriter
}

// hostRecord is what the command learnt about one host.
type hostRecord struct {
	reached    bool
	known      bool // reached is known
	resources  int
	drifted    int
	probed     bool // resources and drifted are known
	applied    int
	failed     int
	reverted   int
	notRevert  int
	upgrades   int
	hasPending bool // upgrades is known (patch)
	outcome    string
	start, end time.Time
}

// addRunOutputs adds --metrics-file and --events (those asked for) to a
// command, and makes the command write them when it ends.
func (c *common) addRunOutputs(cmd *cobra.Command, metrics, events bool) {
	o := &runOutputs{command: cmd.Name()}
	c.outputs = o
	if metrics {
		cmd.Flags().StringVar(&o.metricsPath, "metrics-file", "", "write Prometheus metrics of the run to FILE, atomically, in node_exporter's textfile-collector format (docs/metrics.md)")
	}
	if events {
		cmd.Flags().StringVar(&o.eventsPath, "events", "", "append the run's events to FILE as JSON lines in Elastic Common Schema fields, for log shippers (docs/events.md)")
	}
	inner := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.open(); err != nil {
			return err
		}
		err := inner(cmd, args)
		if ferr := o.finish(err); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
}

// active reports whether any output was asked for.
func (o *runOutputs) active() bool {
	return o != nil && (o.metricsPath != "" || o.eventsPath != "")
}

// open starts the record; a file that cannot be opened stops the
// command before it reaches any host.
func (o *runOutputs) open() error {
	if !o.active() {
		return nil
	}
	o.started = time.Now()
	o.user = currentUser()
	o.runID = journal.NewID(o.started)
	o.hosts = map[string]*hostRecord{}
	if o.eventsPath != "" {
		w, err := openEvents(o.eventsPath)
		if err != nil {
			return err
		}
		o.events = w
	}
	return nil
}

// newRunID returns the ID for the command's journaled run: the one its
// events already carry, so that the events of planning and of the run
// share it.
func (o *runOutputs) newRunID(now time.Time) string {
	if !o.active() || o.runID == "" {
		return journal.NewID(now)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.runID
}

// continueRun makes the events carry the ID of a run the command
// continues (tend resume).
func (o *runOutputs) continueRun(id string) {
	if o.active() {
		o.mu.Lock()
		o.runID = id
		o.mu.Unlock()
	}
}

// host returns the record of a host, registering it.
func (o *runOutputs) host(name string) *hostRecord {
	h := o.hosts[name]
	if h == nil {
		h = &hostRecord{}
		o.hosts[name] = h
		o.order = append(o.order, name)
	}
	return h
}

// planned records a plan: which hosts were reached, their resources and
// the changes pending on them.
func (o *runOutputs) planned(pl *plan.Plan) {
	if !o.active() || pl == nil {
		return
	}
	now := time.Now()
	for _, hp := range pl.Hosts {
		o.plannedHost(hp, now)
	}
}

// plannedHost records one host's plan, complete at now.
func (o *runOutputs) plannedHost(hp *plan.HostPlan, now time.Time) {
	if !o.active() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.host(hp.Name)
	h.known, h.reached = true, hp.Err == nil || !plan.Unreachable(hp.Err)
	h.start, h.end = now.Add(-hp.Duration), now
	switch {
	case hp.Err == nil:
		h.outcome = engine.Success
		h.resources, h.drifted, h.probed = len(hp.Changes), len(hp.Pending()), true
	case plan.Unreachable(hp.Err):
		h.outcome = engine.Unreachable
	default:
		h.outcome = engine.Failed
	}
	o.planEvents(hp, now)
}

// patchChecked records the upgrades pending on each host of a patch.
func (o *runOutputs) patchChecked(hosts []*patchHost) {
	if !o.active() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for _, ph := range hosts {
		h := o.host(ph.inv.Name)
		h.known, h.reached = true, ph.outcome != engine.Unreachable
		h.start, h.end = o.started, now
		h.outcome = engine.Success
		if ph.err != nil {
			h.outcome = ph.outcome
		} else {
			h.upgrades, h.hasPending = len(ph.pending), true
		}
		o.patchEvent(ph, now)
	}
}

// subscribers returns the engine subscribers of the outputs asked for.
func (o *runOutputs) subscribers(runID string) []engine.Subscriber {
	if !o.active() {
		return nil
	}
	o.mu.Lock()
	o.runID = runID
	o.mu.Unlock()
	return []engine.Subscriber{engine.SubscriberFunc(o.event)}
}

// event records an engine event.
func (o *runOutputs) event(e *engine.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e.Kind == engine.Changes {
		for _, it := range e.Items {
			o.record(it)
		}
		return nil
	}
	o.record(e)
	return nil
}

func (o *runOutputs) record(e *engine.Event) {
	o.writeEngineEvent(e)
	switch e.Kind {
	case engine.RunStarted:
		o.engineRan = true
		return
	case engine.RunFinished, engine.BatchesPlanned, engine.BatchStarted, engine.BatchFinished, engine.Pausing, engine.Interrupted, engine.Diagnostic:
		return
	}
	if e.Host == "" {
		return
	}
	h := o.host(e.Host)
	switch e.Kind {
	case engine.HostPlanned:
		if h.start.IsZero() {
			h.start = e.Time
		}
	case engine.ChangeFailed:
		if e.Address != "" {
			h.failed++
		}
	case engine.HostOutcome:
		h.applied, h.reverted, h.notRevert = e.Applied, e.Reverted, e.NotRevertedN
		h.outcome, h.end = e.Outcome, e.Time
		if e.Outcome == engine.Unreachable {
			h.known, h.reached = true, false
		} else if e.Outcome != engine.NotStarted {
			h.known, h.reached = true, true
		}
	}
}

// finish writes the outputs; err is the command's.
func (o *runOutputs) finish(err error) error {
	if !o.active() || o.hosts == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	end := time.Now()
	code := exitCode(err)
	ok := code == ExitOK || code == ExitChanges
	var errs []error
	if o.events != nil {
		if !o.engineRan {
			o.finishEvent(end, ok, code)
		}
		errs = append(errs, o.events.close())
	}
	if o.metricsPath != "" {
		errs = append(errs, o.writeMetrics(end, ok))
	}
	return errors.Join(errs...)
}

// exitCode is the exit code a command's error makes.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	}
	return ExitError
}

// orderHosts puts the hosts recorded in the order of names (a plan's,
// whose hosts were recorded as each was complete), those not named after.
func (o *runOutputs) orderHosts(names []string) {
	if !o.active() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	order := make([]string, 0, len(o.order))
	placed := make(map[string]bool, len(names))
	for _, n := range names {
		if _, ok := o.hosts[n]; ok && !placed[n] {
			placed[n] = true
			order = append(order, n)
		}
	}
	for _, n := range o.order {
		if !placed[n] {
			order = append(order, n)
		}
	}
	o.order = order
}
