// Package plan turns configuration, inventory and the probed state of each
// host into a Plan: data saying, per host, which resources change and how
// (before and after). It renders plans for people and as JSON, and saves
// and loads them. Apply never looks at how a plan was produced.
package plan
