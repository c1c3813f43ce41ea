package account

import (
	"encoding/base64"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
)

// keysLimit is the largest authorized_keys file whose content the probe
// returns for the plan's diff; larger ones are compared by digest.
const keysLimit = 64 << 10

// The user's ~/.ssh is the user's to change: root writing there could be
// tricked by a symlink planted between a check and a write into clobbering
// or chowning files elsewhere. So tend reads and writes the user's files
// as the user (setpriv to the user's uid and gid, no supplementary
// groups), and acts as root only where the user could not: creating a
// missing home, and chown -h, which never follows a link.

// asUser is a command running an inline sh program (tend's own text;
// data only through its arguments, which the caller appends) as the user
// whose uid and gid are in $uid and $ugid; $0 is "tend".
func asUser(program string) *shell.Command {
	return shell.Cmd("setpriv", `--reuid="$uid"`, `--regid="$ugid"`, "--clear-groups", "--", "/bin/sh", "-c").Arg(program).Flag("tend")
}

// keysProbe reads ~/.ssh and authorized_keys without following links:
// their mode and ownership, and the content (read as the user, so a link
// to a file the user cannot read shows nothing), or its digest when large.
var keysProbe = `d=$home/.ssh; f=$d/authorized_keys
if [ -L "$d" ]; then out ssh_dir link
elif [ -d "$d" ]; then
  if [ -L "$f" ]; then out ssh_dir "$(stat -c '%a %u %g' -- "$d")"; out keys_stat link
  elif [ -f "$f" ]; then
    set -- $(stat -c '%a %u %g %s' -- "$d" "$f")
    out ssh_dir "$1 $2 $3"; out keys_stat "$5 $6 $7 $8"
    if [ "$8" -le ` + strconv.Itoa(keysLimit) + ` ]; then
      if k=$(setpriv --reuid="$uid" --regid="$ugid" --clear-groups -- base64 -w0 -- "$f" 2>/dev/null); then out keys "$k"; fi
    else h=$(sha256sum < "$f"); out keys_sha "${h%% *}"; fi
  else out ssh_dir "$(stat -c '%a %u %g' -- "$d")"
  fi
fi
`

// keysWant is the authorized_keys file a list of keys makes.
func keysWant(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return strings.Join(keys, "\n") + "\n"
}

// accessWant is the authorized_keys_access value tend ensures.
func accessWant(name string) string {
	return "~/.ssh 0700, authorized_keys 0600, owned by " + name
}

// readKeys fills authorized_keys and authorized_keys_access in a current
// state from the probe's output.
func readKeys(attrs map[string]cty.Value, out resources.ProbeOutput, name string, pw passwdEntry) error {
	dir, hasDir := out.Get("ssh_dir")
	st, hasFile := out.Get("keys_stat")
	uid := fmt.Sprint(pw.UID)
	switch {
	case dir == "link":
		attrs["authorized_keys"] = cty.StringVal("(~/.ssh is a symbolic link)")
		attrs["authorized_keys_access"] = cty.StringVal("~/.ssh is a symbolic link")
		return nil
	case !hasDir:
		attrs["authorized_keys"] = cty.NullVal(cty.String)
		attrs["authorized_keys_access"] = cty.StringVal("~/.ssh missing")
		return nil
	}
	df := strings.Fields(dir)
	if len(df) != 3 {
		return fmt.Errorf("unexpected ~/.ssh status %q", dir)
	}
	switch {
	case !hasFile:
		attrs["authorized_keys"] = cty.NullVal(cty.String)
		attrs["authorized_keys_access"] = cty.StringVal(fmt.Sprintf("~/.ssh %s, authorized_keys missing", mode4(df[0])))
		return nil
	case st == "link":
		attrs["authorized_keys"] = cty.StringVal("(authorized_keys is a symbolic link)")
		attrs["authorized_keys_access"] = cty.StringVal(fmt.Sprintf("~/.ssh %s, authorized_keys is a symbolic link", mode4(df[0])))
		return nil
	}
	ff := strings.Fields(st)
	if len(ff) != 4 {
		return fmt.Errorf("unexpected authorized_keys status %q", st)
	}
	owner := name
	if df[1] != uid || df[2] != pw.GID || ff[1] != uid || ff[2] != pw.GID {
		owner = fmt.Sprintf("%s:%s and %s:%s", df[1], df[2], ff[1], ff[2])
	}
	attrs["authorized_keys_access"] = cty.StringVal(fmt.Sprintf("~/.ssh %s, authorized_keys %s, owned by %s", mode4(df[0]), mode4(ff[0]), owner))
	if enc, ok := out.Get("keys"); ok {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return fmt.Errorf("reading authorized_keys: %w", err)
		}
		attrs["authorized_keys"] = cty.StringVal(string(b))
		return nil
	}
	if sum, ok := out.Get("keys_sha"); ok {
		attrs["authorized_keys"] = cty.StringVal(fmt.Sprintf("(%s bytes, sha256 %s)", ff[3], sum))
		return nil
	}
	// Not readable by the user (a file owned by someone else, mode 0600).
	attrs["authorized_keys"] = cty.StringVal("(not readable by the user)")
	return nil
}

func mode4(m string) string {
	for len(m) < 4 {
		m = "0" + m
	}
	return m
}

// keysWrite is the program, run as the user, writing its stdin to
// $1/.ssh/authorized_keys atomically, mode 0600, in a 0700 ~/.ssh.
var keysWrite = "set -e; umask 077\n" + resources.FileFuncs +
	`d=$1/.ssh; f=$d/authorized_keys; chmod 0700 "$d"` + "\n" +
	resources.WriteStdin("$f", ".tend.", resources.Install{Mode: "0600", Meta: true})

// keysRestore is the program, run as the user, writing its stdin (the
// backup) to the file $1 atomically with mode $2.
var keysRestore = "set -e\n" + resources.FileFuncs + `f=$1; m=$2` + "\n" +
	resources.WriteStdin("$f", ".tend.", resources.Install{Mode: "$m", Meta: true})

// writeKeys appends the commands that make ~/.ssh/authorized_keys hold
// content (sent on stdin) with mode 0600 in a 0700 ~/.ssh, owned by the
// user, keeping the previous file at backup. It records in undo lines
// what it changed.
func writeKeys(s *script, content, backup string) {
	s.raw(findLine("u", "/etc/passwd"))
	s.raw(`[ -n "$u" ] || { echo "user $n does not exist" >&2; exit 1; }
` + splitPasswd + `case $home in /?*) ;; *) echo "authorized_keys needs a home directory; the home of $n is \"$home\"" >&2; exit 1;; esac
if [ ! -d "$home" ]; then mkdir -p -m 0700 -- "$home"; chown -h "$uid:$ugid" "$home"; printf 'undo keys_home_created %s\n' "$home"; fi
d=$home/.ssh; f=$d/authorized_keys
if [ -L "$d" ]; then echo "$d is a symbolic link; tend does not write through it" >&2; exit 1; fi
if [ -e "$d" ]; then
  printf 'undo ssh_dir %s\n' "$(stat -c '%a %u:%g' -- "$d")"
  [ "$(stat -c '%u:%g' -- "$d")" = "$uid:$ugid" ] || chown -h "$uid:$ugid" "$d"
else
  mkdir -m 0700 -- "$d"; chown -h "$uid:$ugid" "$d"; printf 'undo ssh_dir_created 1\n'
fi
`)
	s.raw(shell.NewScript().Line(`if [ -L "$f" ] || [ -f "$f" ]; then`).
		Run(shell.Cmd("mkdir", "-p", "-m", "0700").Operands(path.Dir(backup))).
		Run(shell.Cmd("cp", "-pP").VarOperand("f").Arg(backup)).
		Run(shell.Cmd("printf", `'undo keys_backup %s\n'`).Arg(backup)).
		Line(`elif [ -e "$f" ]; then
  echo "$f is not a regular file; tend does not replace it" >&2; exit 1
fi
printf 'undo keys_home %s\n' "$home"`).
		Run(asUser(keysWrite).Var("home")).String())
	s.stdin.WriteString(content)
}

// restoreKeys appends the commands that put ~/.ssh/authorized_keys back
// as writeKeys found it, from its undo values.
func restoreKeys(s *script, undo resources.Undo) {
	home := undo["keys_home"]
	if home == "" {
		return
	}
	s.raw(findLine("u", "/etc/passwd"))
	sh := shell.NewScript().Line(`if [ -n "$u" ]; then`).Raw(splitPasswd).Set("h", home).Line(`d=$h/.ssh; f=$d/authorized_keys`)
	if b := undo["keys_backup"]; b != "" {
		sh.Set("b", b).Line(`if [ -L "$b" ]; then`).
			Run(asUser(`ln -sfn -- "$1" "$2"`).Flag(`"$(readlink -- "$b")"`).Var("f")).
			Line(`else
  m=$(stat -c '%a' -- "$b"); o=$(stat -c '%u:%g' -- "$b")`).
			Run(asUser(keysRestore).Var("f").Var("m").Redirect(`< "$b"`)).
			Line(`  [ "$o" = "$uid:$ugid" ] || chown -h "$o" "$f"
fi`)
	} else {
		sh.Run(asUser(`rm -f -- "$1"`).Var("f"))
	}
	if undo["ssh_dir_created"] == "1" {
		sh.Run(asUser(`rmdir -- "$1" 2>/dev/null || true`).Var("d"))
	} else if m, o, ok := strings.Cut(undo["ssh_dir"], " "); ok {
		sh.Run(asUser(`chmod "$2" "$1"`).Var("d").Arg(m))
		sh.Raw("[ ").Word("", o, "").Raw(` = "$uid:$ugid" ] || `).Run(shell.Cmd("chown", "-h").Operands(o).Var("d"))
	}
	sh.Line("fi")
	if h := undo["keys_home_created"]; isRemovableHome(h) {
		sh.Run(shell.Cmd("rm", "-rf").Operands(h))
	}
	s.raw(sh.String())
}

// isRemovableHome reports whether p may be removed as a home directory
// tend created: an absolute path other than /.
func isRemovableHome(p string) bool {
	return len(p) > 1 && p[0] == '/' && path.Clean(p) != "/"
}
