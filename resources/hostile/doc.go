// Package hostile holds the hostile-input test of every POSIX resource
// type: hostile strings in every string attribute of every built-in type,
// the scripts they produce run by a real sh in a sandbox (a chroot in a
// user and mount namespace, the system read-only, stub programs recording
// their arguments instead of changing anything). Either the value is
// refused with a diagnostic, or the scripts do exactly what was declared.
package hostile
