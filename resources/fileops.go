package resources

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/tendhq/tend/shell"
)

// The POSIX file primitives. Every resource that writes, backs up,
// restores or removes a file on a POSIX host builds those steps from
// these, so the order of the steps, and what a rewrite keeps, is the
// same everywhere:
//
//   - a new content goes to a private temporary file in the file's own
//     directory (mktemp: a unique name, mode 0600, never an existing
//     file or link);
//   - the temporary file gets its ownership first, then the replaced
//     file's ACL, extended attributes and SELinux context, then its mode
//     (chown clears set-user-ID and set-group-ID bits, and writing or
//     chowning a file clears its capabilities, so each step comes after
//     what would undo it);
//   - it is flushed to disk, then renamed over the file: readers see the
//     old file or the new one, never a partial one.
//
// Scripts using them include FileFuncs once.

// FileFuncs defines the sh functions the file primitives use:
//
// _tmhas FILE... succeeds when one of the files may have an ACL,
// extended attributes or an SELinux context to keep: one process for
// all of them (getfattr, else getfacl), none on a host without the
// tools, and true whenever SELinux is enabled.
//
// _tmeta SRC DST copies SRC's ACL, extended attributes (user, trusted,
// security: SELinux context and capabilities included) onto DST, and
// returns non-zero, with the cause (CauseLine), when it cannot. It costs
// nothing on a host without the tools: with getfattr, one process reads
// them all, and more run only when there is something to copy; without
// it, getfacl (when present) copies an ACL, and chcon the SELinux
// context (when SELinux is enabled). It does nothing while _tmk is 0
// (see MetaCheck).
var FileFuncs = `_tmhas() {
  if command -v getfattr >/dev/null 2>&1; then
    [ -n "$(getfattr -h -d -m - --absolute-names -- "$@" 2>/dev/null)" ]; return
  fi
  [ ! -e /sys/fs/selinux/enforce ] || return 0
  command -v getfacl >/dev/null 2>&1 || return 1
  [ -n "$(getfacl -s -p --absolute-names -- "$@" 2>/dev/null)" ]
}
_tmeta() {
  [ "${_tmk-}" != 0 ] || return 0
  if command -v getfattr >/dev/null 2>&1 && command -v setfattr >/dev/null 2>&1; then
    _tmx=$(getfattr -h -d -m - -e base64 --absolute-names -- "$1" 2>/dev/null) || return 0
    [ -n "$_tmx" ] || return 0
    printf '%s\n' "$_tmx" | { while IFS= read -r _tml; do
      case $_tml in
      ''|'#'*) ;;
      *=*) setfattr -h -n "${_tml%%=*}" -v "${_tml#*=}" -- "$2" || exit 1 ;;
      *) setfattr -h -n "$_tml" -- "$2" || exit 1 ;;
      esac
    done; } || { ` + CauseLine(`"cannot keep the extended attributes of $1"`) + `; return 1; }
    return 0
  fi
  if command -v getfacl >/dev/null 2>&1 && command -v setfacl >/dev/null 2>&1; then
    _tmx=$(getfacl -s -p --absolute-names -- "$1" 2>/dev/null) || _tmx=
    if [ -n "$_tmx" ]; then
      printf '%s\n' "$_tmx" | setfacl --set-file=- -- "$2" || { ` + CauseLine(`"cannot keep the ACL of $1"`) + `; return 1; }
    fi
  fi
  if [ -e /sys/fs/selinux/enforce ] && command -v chcon >/dev/null 2>&1; then
    chcon --reference="$1" -- "$2" || { ` + CauseLine(`"cannot keep the SELinux context of $1"`) + `; return 1; }
  fi
  return 0
}
`

// MetaCheck returns the command that asks once (_tmhas) whether any of
// the files at paths has metadata to keep, and when none has, sets _tmk
// to 0 so that the backups and writes of those files that follow spare
// a process each; MetaDone ends its effect.
func MetaCheck(paths ...string) string {
	if len(paths) == 0 {
		return ""
	}
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = word(p)
	}
	return "if _tmhas " + strings.Join(q, " ") + "; then _tmk=; else _tmk=0; fi\n"
}

// MetaDone is the command ending a MetaCheck's effect.
const MetaDone = "_tmk=\n"

// varRE is a shell variable reference a primitive accepts in place of a
// path or a mode: the variable is set by the script's own constant text.
var varRE = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*$`)

// word is a value as a shell word: a variable reference ("$f") stays one,
// double-quoted; anything else is quoted.
func word(v string) string {
	if varRE.MatchString(v) {
		return `"` + v + `"`
	}
	return shell.Quote(v)
}

// TempFile returns the command setting the shell variable v to a new
// private temporary file next to p (a path, or a variable reference such
// as "$f"), named prefix followed by mktemp's random letters: no other
// change, run or restore shares the name. When mktemp fails, fail runs.
func TempFile(v, p, prefix, fail string) string {
	if varRE.MatchString(p) {
		// An absolute path's directory, without a process.
		return fmt.Sprintf("%s=$(mktemp \"${%s%%/*}\"/%s) || %s\n", v, p[1:], shell.Quote(prefix+"XXXXXX"), fail)
	}
	return fmt.Sprintf("%s=$(mktemp %s) || %s\n", v, shell.Quote(path.Dir(p)+"/"+prefix+"XXXXXX"), fail)
}

// Install is the end of an atomic write: the temporary file named by the
// variable Temp, which holds the new content, becomes the file at Path.
type Install struct {
	// Temp is the name of the shell variable holding the temporary
	// file's name ("t" for "$t").
	Temp string
	// Path is the file's path, or a variable reference ("$f").
	Path string
	// Owner and Group are the ownership to give, by name or numeric id;
	// empty ones keep the temporary file's (the connecting user's).
	Owner, Group string
	// KeepUID and KeepGID are the numeric ownership of the file being
	// replaced, used when Owner and Group are both empty: chown runs only
	// when the temporary file does not have it already.
	KeepUID, KeepGID string
	// Mode is the octal mode, or a variable reference; set last.
	Mode string
	// Meta copies the replaced file's ACL, extended attributes and
	// SELinux context, when there is a file there (see FileFuncs).
	Meta bool
	// Fail is the command run when a step fails, after the temporary
	// file is removed: "exit 1" or "return 1".
	Fail string
}

// Script returns the commands.
func (in Install) Script() string {
	t := `"$` + in.Temp + `"`
	p := word(in.Path)
	fail := "{ rm -f -- " + t + "; " + in.Fail + "; }"
	var sb strings.Builder
	switch o, g := in.Owner, in.Group; {
	case o == "" && g == "" && in.KeepUID != "" && in.KeepGID != "":
		// test's -O and -G need no process: the temporary file has the
		// ownership already when the replaced file is the connecting
		// user's.
		fmt.Fprintf(&sb, "{ [ -O %s ] && [ -G %s ] && [ -G %s ]; } || chown -- %s %s || %s\n", p, p, t, shell.Quote(in.KeepUID+":"+in.KeepGID), t, fail)
	case o != "" && g != "":
		fmt.Fprintf(&sb, "chown -- %s %s || %s\n", shell.Quote(o+":"+g), t, fail)
	case o != "":
		fmt.Fprintf(&sb, "chown -- %s %s || %s\n", shell.Quote(o), t, fail)
	case g != "":
		fmt.Fprintf(&sb, "chgrp -- %s %s || %s\n", shell.Quote(g), t, fail)
	}
	if in.Meta {
		fmt.Fprintf(&sb, "if [ -f %s ]; then _tmeta %s %s || %s; fi\n", p, p, t, fail)
	}
	fmt.Fprintf(&sb, "chmod %s %s || %s\n", word(in.Mode), t, fail)
	fmt.Fprintf(&sb, "sync -- %s 2>/dev/null || :\n", t)
	sb.WriteString(notDirScript(in.Path, fail))
	fmt.Fprintf(&sb, "mv -f -- %s %s || %s\n", t, p, fail)
	return sb.String()
}

// notDirScript is a check, before a file is renamed onto p, that p has
// not become a directory since it was read (mv would move the file into
// it): the check gives the cause and runs fail.
func notDirScript(p, fail string) string {
	return fmt.Sprintf("if [ -d %s ]; then %s; %s; fi\n", word(p), CauseLine("'it is a directory, not a regular file'"), fail)
}

// WriteStdin returns a script fragment writing its standard input to p
// atomically (TempFile, then in) in a script run with set -e; in's Path
// and Temp are filled.
func WriteStdin(p, prefix string, in Install) string {
	in.Path, in.Temp = p, "t"
	if in.Fail == "" {
		in.Fail = "exit 1"
	}
	return TempFile("t", p, prefix, in.Fail) + `cat > "$t" || { rm -f -- "$t"; ` + in.Fail + "; }\n" + in.Script()
}

// BackupScript is the command copying p to b in the run's backup
// directory, with its mode, ownership, times, ACL and extended
// attributes, running fail when it cannot.
//
// A backup already there is kept: it is this change's, made by an attempt
// cut short (a lost connection, a killed run) before the one now, and it
// holds the state before the run, which the file may no longer have.
func BackupScript(p, b, fail string) string {
	qb := shell.Quote(b)
	qp := shell.Quote(p)
	return "{ mkdir -p -m 0700 " + shell.Quote(path.Dir(b)) + " && { [ -e " + qb + " ] || { cp -p -- " + qp + " " + qb + " && _tmeta " + qp + " " + qb + "; }; }; } || " + fail + "\n"
}

// RestoreScript returns a script fragment, run with set -e, putting the
// backup b back at p atomically, byte for byte with its mode, ownership,
// times, ACL and extended attributes: copied next to p under a
// temporary name no other restore shares (TempFile), then renamed.
func RestoreScript(p, b, prefix string) string {
	qb := shell.Quote(b)
	fail := `{ rm -f -- "$t"; exit 1; }`
	return TempFile("t", p, prefix+"restore.", "exit 1") +
		"cp -p -- " + qb + ` "$t" || ` + fail + "\n" +
		"_tmeta " + qb + ` "$t" || ` + fail + "\n" +
		`sync -- "$t" 2>/dev/null || :` + "\n" +
		`mv -f -- "$t" ` + shell.Quote(p) + " || " + fail + "\n"
}

// RemoveScript is the command removing the file p.
func RemoveScript(p string) string { return "rm -f -- " + shell.Quote(p) + "\n" }
