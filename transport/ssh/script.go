package ssh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// How a script reaches the remote shell (see doc.go for the why).
//
// The exec request carries only a small, fixed bootstrap:
//
//	/bin/sh -c 'BOOTSTRAP'                                (plain)
//	sudo -n -u USER -- /bin/sh -c 'BOOTSTRAP'             (become, no password)
//	sudo -S -p '' -u USER -- /bin/sh -c 'BOOTSTRAP'       (become, password)
//	su USER -c '/bin/sh -c '"'"'BOOTSTRAP'"'"''            (become with su)
//	doas -n -u USER /bin/sh -c 'BOOTSTRAP'                (become with doas)
//
// and standard input carries, in order:
//
//	[PASSWORD "\n" "\n" "\n"]   become with a password only
//	HEADER "\n"                 "tend:NONCE:script"
//	LENGTH "\n"                 the script's size in bytes, decimal
//	SCRIPT                      exactly LENGTH bytes
//	...                         the caller's Command.Stdin, then EOF
//
// The bootstrap first prints MARKER ("tend:NONCE:run"), its PID and its
// process group ("1234.1230:") on stdout and on stderr: on stdout it
// proves the shell started (sudo accepted us, the account has a shell);
// on both it separates the script's output from what came before (a
// login script's chatter, sudo's lecture); the IDs let a cancelled Run
// kill the script's process group. It then discards lines up to HEADER (the password, if sudo did not need it,
// and the padding lines), reads exactly LENGTH bytes with single-read `dd`
// calls that never read past the script, and evals it. The rest of stdin is
// untouched, so the script sees exactly the caller's bytes.
//
// The two empty lines after the password bound a wrong password: sudo
// (passwd_tries=3) spends its remaining attempts on them and exits instead
// of reading into the script or waiting for input that never comes.
//
// su (util-linux, through PAM) reads the password from standard input
// when it has no terminal, one line, and leaves the rest; a wrong one
// ends it at once. doas reads a password only from a terminal, which
// tend does not use, so doas is for rules with nopass; Dial refuses doas
// with a password.

// exitTruncated is the bootstrap's exit status when stdin ended before the
// whole script arrived; it is reported as a transport error.
const exitTruncated = 125

// truncatedMsg is what the bootstrap prints on stderr with exitTruncated.
const truncatedMsg = "tend-bootstrap: script stream truncated"

// become says how scripts are lifted to another user: method is "sudo",
// "su" or "doas".
type become struct {
	method   string
	user     string
	password string
}

func (b *become) methodName() string {
	if b.method == "" {
		return "sudo"
	}
	return b.method
}

// launch is everything one Run sends: the exec request's command line, the
// bytes written to stdin before the caller's, and the marker the bootstrap
// prints first on stdout.
type launch struct {
	command string
	prelude []byte
	marker  string
	nonce   string
}

// bootstrap returns the POSIX sh program that reads the framed script from
// stdin and evals it. It contains no single quote, backslash or newline, so
// it survives being wrapped in single quotes by any login shell (sh, bash,
// zsh, fish, csh), and all its variables start with _tend_ to stay out of
// the script's way (they are unset before the eval, except the script).
func bootstrap(nonce string) string {
	header := "tend:" + nonce + ":script"
	marker := "tend:" + nonce + ":run"
	fail := `{ echo "` + truncatedMsg + `" >&2; exit ` + strconv.Itoa(exitTruncated) + `; }`
	parts := []string{
		// The shell's process group (Linux; left empty elsewhere), for a
		// cancelled Run to kill the script with its children.
		`_tend_pg=`,
		`read -r _tend_l _tend_l _tend_l _tend_l _tend_pg _tend_l 2>/dev/null </proc/$$/stat`,
		// The marker, then the shell's PID and process group.
		`printf %s%s.%s: ` + marker + ` "$$" "$_tend_pg"`,
		// And on stderr: what came before it there (sudo's lecture, a
		// login script's chatter) is not the script's.
		`printf %s%s.%s: ` + marker + ` "$$" "$_tend_pg" >&2`,
		// Byte semantics for ${#var} (bash and zsh count characters in
		// UTF-8 locales); the caller's LC_ALL is restored before the eval.
		`_tend_lc=${LC_ALL-}`, `_tend_lcs=${LC_ALL+x}`, `LC_ALL=C`,
		`while :; do IFS= read -r _tend_l || ` + fail + `; [ "$_tend_l" = ` + header + ` ] && break; done`,
		`IFS= read -r _tend_n || ` + fail,
		`_tend_s=`,
		// One read(2) per dd: it can return less than asked (pipes) but
		// never more, so the caller's stdin after the script is untouched.
		// The "." keeps trailing newlines from $( ) stripping.
		`while [ "$_tend_n" -gt 0 ]; do ` +
			`_tend_c=$(dd bs="$_tend_n" count=1 2>/dev/null; echo .); _tend_c=${_tend_c%.}; ` +
			`[ -n "$_tend_c" ] || ` + fail + `; ` +
			`_tend_s=$_tend_s$_tend_c; _tend_n=$((_tend_n - ${#_tend_c})); ` +
			`done`,
		`if [ -n "$_tend_lcs" ]; then LC_ALL=$_tend_lc; else unset LC_ALL; fi`,
		`unset _tend_l _tend_n _tend_c _tend_lc _tend_lcs _tend_pg`,
		`eval "$_tend_s"`,
	}
	return strings.Join(parts, "; ")
}

// newLaunch frames script for the bootstrap, lifted with sudo when b is not
// nil. It refuses what the framing cannot carry: NUL bytes in the script
// (no shell variable can hold them) and newlines in a sudo password (sudo
// reads one line).
func newLaunch(script string, b *become) (*launch, error) {
	if strings.IndexByte(script, 0) >= 0 {
		return nil, errors.New("script contains a NUL byte, which POSIX sh cannot run")
	}
	nonce := transport.NewNonce()
	boot := bootstrap(nonce)
	sh := shell.Cmd("/bin/sh", "-c").Arg(boot)
	cmd := sh.String()

	var prelude strings.Builder
	if b != nil {
		user := b.user
		if user == "" {
			user = "root"
		}
		if strings.ContainsAny(b.password, "\r\n") {
			return nil, fmt.Errorf("become password contains a line break, which %s cannot read", b.methodName())
		}
		switch b.method {
		case "su":
			cmd = shell.Cmd("su").Arg(user).Flag("-c").Arg(cmd).String()
			if b.password != "" {
				prelude.WriteString(b.password)
				prelude.WriteString("\n")
			}
		case "doas":
			if b.password != "" {
				return nil, errors.New("doas reads a password only from a terminal; give this user a nopass rule in doas.conf, or become with sudo or su")
			}
			cmd = shell.Cmd("doas", "-n", "-u").Arg(user).Wrap(sh).String()
		default:
			if b.password != "" {
				cmd = shell.Cmd("sudo", "-S", "-p", "''", "-u").Arg(user).Flag("--").Wrap(sh).String()
				prelude.WriteString(b.password)
				prelude.WriteString("\n\n\n")
			} else {
				cmd = shell.Cmd("sudo", "-n", "-u").Arg(user).Flag("--").Wrap(sh).String()
			}
		}
	}
	prelude.Grow(len(script) + 64)
	fmt.Fprintf(&prelude, "tend:%s:script\n%d\n", nonce, len(script))
	prelude.WriteString(script)
	return &launch{
		command: cmd,
		prelude: []byte(prelude.String()),
		marker:  "tend:" + nonce + ":run",
		nonce:   nonce,
	}, nil
}

// killScript ends the process group of a cancelled Run's script: pgid as
// the bootstrap reported it, or else the group of pid (the bootstrap
// shell) if that process still carries the run's nonce in its command
// line. TERM first, KILL if the group outlives two seconds.
//
// It exists because sshd refuses "signal" channel requests in sessions of
// root logins (OpenSSH runs those without privilege separation), because a
// signal that reaches only the shell (sudo relays it to its command alone)
// leaves the script's children running, and because sshd keeps a session
// open for as long as its process lives.
func killScript(nonce string, pid, pgid int) string {
	s := shell.NewScript().Raw("p=").Int(uint(max(pid, 0))).Raw(" g=")
	if pgid > 1 {
		s.Int(uint(pgid))
	}
	s.Line(`
if [ -z "$g" ]; then
	a=$(tr '\000' ' ' < /proc/$p/cmdline 2>/dev/null) || a=$(ps -o args= -p $p 2>/dev/null) || exit 0`)
	s.Raw(`	case "$a" in `).Word("*", nonce, "*").Line(`) ;; *) exit 0 ;; esac
	g=$(ps -o pgid= -p $p 2>/dev/null | tr -d ' ')
	[ -n "$g" ] || g=$(sed 's/^.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f3)
fi
me=$(ps -o pgid= -p $$ 2>/dev/null | tr -d ' ')
[ -n "$me" ] || me=$(sed 's/^.*) //' /proc/$$/stat 2>/dev/null | cut -d' ' -f3)
if [ -n "$g" ] && [ "$g" -gt 1 ] 2>/dev/null && [ "$g" != "$me" ]; then t=-$g; else t=$p; fi
kill -s TERM -- "$t" 2>/dev/null || exit 0
i=0
while [ $i -lt 20 ] && kill -s 0 -- "$t" 2>/dev/null; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done
kill -s KILL -- "$t" 2>/dev/null
exit 0`)
	return s.String()
}
