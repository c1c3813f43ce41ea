// Package account holds the user and group resource types: local accounts
// in /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow, changed with
// shadow-utils (useradd, usermod, userdel, groupadd, groupmod, groupdel,
// gpasswd, chpasswd, chage).
//
// Probes read the account files with the shell's read loop, one pass per
// file and no process per resource. Change scripts print "undo KEY VALUE"
// lines as they go, so that a change failing part-way can be undone at
// once and a finished one reverted exactly: every attribute restored, the
// password hash (kept in the journal's undo data, encrypted, never in a
// state or on a command line) fed back through chpasswd -e on stdin,
// authorized_keys put back from a backup. Files in a user's ~/.ssh are read and written as
// that user, never by root through a path the user controls.
package account
