package cli

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/engine"
)

// outcomeLabels are the values of tend_host_last_run_outcome's outcome
// label: every one is written, the host's at 1 and the others at 0, so a
// query needs no absent().
var outcomeLabels = []string{engine.Success, engine.Failed, engine.RolledBack, engine.Partial, engine.Unreachable,
	engine.NotStarted, engine.UnhealthyO, engine.Interrupt}

// writeMetrics writes the run's metrics (docs/metrics.md) through a
// registry of the run's own, atomically (a file beside the target and a
// rename), as node_exporter's textfile collector wants them.
func (o *runOutputs) writeMetrics(end time.Time, ok bool) error {
	reg := prometheus.NewRegistry()
	host := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"command", "host"})
		reg.MustRegister(g)
		return g
	}
	run := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"command": o.command}})
		reg.MustRegister(g)
		return g
	}
	up := host("tend_host_up", "Whether tend reached the host in its last run (1) or not (0).")
	ts := host("tend_host_last_run_timestamp_seconds", "When tend last finished with the host, in seconds since the epoch.")
	dur := host("tend_host_last_run_duration_seconds", "How long tend's last run spent on the host, planning included.")
	outcome := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_host_last_run_outcome",
		Help: "The outcome of tend's last run on the host: 1 for its outcome, 0 for the others."}, []string{"command", "host", "outcome"})
	reg.MustRegister(outcome)
	var resources, drifted, applied, failed, reverted, notReverted, upgrades *prometheus.GaugeVec
	switch o.command {
	case "plan", "drift", "apply":
		resources = host("tend_host_resources", "Resources the configuration manages on the host (as last planned).")
		drifted = host("tend_host_resources_drifted", "Resources on the host that differ from the configuration (as last planned).")
	}
	switch o.command {
	case "apply", "patch":
		applied = host("tend_host_changes_applied", "Changes the last run applied on the host (packages upgraded, for patch).")
		failed = host("tend_host_changes_failed", "Changes that failed on the host in the last run.")
		reverted = host("tend_host_changes_reverted", "Changes of the last run that were rolled back on the host.")
		notReverted = host("tend_host_changes_not_reverted", "Changes of the last run that could not be rolled back on the host.")
	}
	if o.command == "patch" {
		upgrades = host("tend_host_package_upgrades_pending", "Package upgrades the host's package manager offered when the last patch run checked.")
	}
	for _, name := range o.order {
		h := o.hosts[name]
		if h.known {
			up.WithLabelValues(o.command, name).Set(boolValue(h.reached))
		}
		when := h.end
		if when.IsZero() {
			when = end
		}
		ts.WithLabelValues(o.command, name).Set(seconds(when))
		if !h.start.IsZero() {
			dur.WithLabelValues(o.command, name).Set(when.Sub(h.start).Seconds())
		}
		oc := h.outcome
		if oc == "" {
			oc = engine.NotStarted
		}
		for _, v := range outcomeLabels {
			outcome.WithLabelValues(o.command, name, v).Set(boolValue(v == oc))
		}
		if resources != nil && h.probed {
			resources.WithLabelValues(o.command, name).Set(float64(h.resources))
			drifted.WithLabelValues(o.command, name).Set(float64(h.drifted))
		}
		if applied != nil {
			applied.WithLabelValues(o.command, name).Set(float64(h.applied))
			failed.WithLabelValues(o.command, name).Set(float64(h.failed))
			reverted.WithLabelValues(o.command, name).Set(float64(h.reverted))
			notReverted.WithLabelValues(o.command, name).Set(float64(h.notRevert))
		}
		if upgrades != nil && h.hasPending {
			upgrades.WithLabelValues(o.command, name).Set(float64(h.upgrades))
		}
	}
	run("tend_last_run_timestamp_seconds", "When tend's last run ended, in seconds since the epoch.").Set(seconds(end))
	run("tend_last_run_duration_seconds", "How long tend's last run took.").Set(end.Sub(o.started).Seconds())
	run("tend_last_run_success", "Whether tend's last run did its job (1) or failed (0); plan and drift finding changes is a success.").Set(boolValue(ok))
	run("tend_last_run_hosts", "Hosts tend's last run targeted.").Set(float64(len(o.order)))
	if err := prometheus.WriteToTextfile(o.metricsPath, reg); err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	return nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
