package resources

import "github.com/tendhq/tend/shell"

// Script steps shared by the path types, written with the shell builder.

// pathCheck appends PathCheckFunc's check of p (want "" or "file"),
// exiting when it fails; the script must define _tpc (PathCheckFunc).
func pathCheck(s *shell.Script, p string, file bool) {
	c := shell.Cmd("_tpc").Arg(p)
	if file {
		c.Flag("file")
	} else {
		c.Flag("-")
	}
	s.Run(c.Or(shell.Cmd("exit", "1")))
}

// modeOwnerScript appends commands changing only the attributes of p that
// differ: ownership first, then the mode, since chown and chgrp clear the
// set-user-ID and set-group-ID bits (a path keeping its set-id mode gets
// it again after an ownership change).
func modeOwnerScript(s *shell.Script, p string, before, after *State) {
	owned := false
	if o := after.Str("owner"); o != "" && o != before.Str("owner") {
		s.Run(shell.Cmd("chown", "-h").Operands(o, p))
		owned = true
	}
	if g := after.Str("group"); g != "" && g != before.Str("group") {
		s.Run(shell.Cmd("chgrp", "-h").Operands(g, p))
		owned = true
	}
	if m := after.Str("mode"); m != "" && m != before.Str("mode") {
		s.Run(chmod(m, p))
	} else if m := before.Str("mode"); owned && setID(m) {
		s.Run(chmod(m, p))
	}
}

// restoreModeOwnerScript appends commands that put back a path's numeric
// ownership and mode, in that order (chown clears set-id bits).
func restoreModeOwnerScript(s *shell.Script, p string, before *State) {
	if u, g := before.Str("uid"), before.Str("gid"); u != "" && g != "" {
		s.Capture("_to", shell.Cmd("stat", "-c", "%u:%g").Operands(p))
		s.Run(shell.Compare("_to", "=", u+":"+g).Or(shell.Cmd("chown", "-h").Operands(u+":"+g, p)))
	}
	if m := before.Str("mode"); m != "" {
		s.Run(chmod(m, p))
	}
}

// chmod sets p's mode without "--", as tend always has: a checked octal
// mode and an absolute path are never read as options.
func chmod(mode, p string) *shell.Command {
	return shell.Cmd("chmod").Arg(mode, p)
}
