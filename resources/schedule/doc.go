// Package schedule holds the scheduled_task resource type: a command run
// on a cron schedule, as a file in /etc/cron.d or as a systemd timer and
// service pair, with the cron syntax validated at plan time and translated
// to systemd's OnCalendar= where the two can mean the same thing.
//
// The files are generated deterministically from the configuration, so
// the plan compares them by content and shows a hand edit as a diff; a
// revert restores the previous files byte for byte from the run's backup
// directory, and the timer's enabled and active states.
package schedule
