// Package service holds the service resource type: whether a system
// service runs now and starts at boot, and what a notification does to it
// (restart or reload). One type covers three init systems, chosen per host
// by the probe itself: systemd (systemctl), OpenRC (rc-service, rc-update)
// and System V init (/etc/init.d scripts with update-rc.d or chkconfig).
//
// The probe reads everything one service needs with one command where the
// init system allows it (one `systemctl show` per service on systemd), and
// apply reverts a change by restoring exactly the running and enabled
// states it probed.
package service
