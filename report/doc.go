// Package report renders fleet reports: a plan, a drift check or a
// journaled run as one self-contained HTML file (no network, no external
// assets) with a grid of hosts coloured by status, filters, and the
// detail of each host and resource, content diffs included.
//
// A report is data first (Report, made once from a plan or a run, every
// string already redacted) and a page second: the data is embedded as
// JSON and the page's script draws the grid from it and the details only
// when asked, so a report of a thousand hosts stays small and opens fast.
// Identical changes and diffs across hosts are stored once.
package report
