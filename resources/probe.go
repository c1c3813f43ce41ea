package resources

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/shell"
)

// ProbeHelpers is the POSIX sh prelude every probe fragment may use:
// `out KEY VALUE` prints one value (VALUE must be one line; encode
// arbitrary bytes with b64), `b64` base64-encodes stdin on one line.
//
// `tstat PATH` sets s to "MODE UID GID OWNER GROUP SIZE" of PATH (not
// following a final symlink) and `tsha PATH` sets h to the hex SHA-256 of
// PATH's content; each returns non-zero, with the command's message on
// stderr, when it cannot. When the probe script prefetched the fragment's
// path (see PathProber and package probe), they take the value from
// there, spawning no process: a process costs a host milliseconds, and a
// probe script runs hundreds of fragments.
const ProbeHelpers = `out() { printf '\037%s=%s\n' "$1" "$2"; }
b64() { base64 -w0 2>/dev/null || base64 | tr -d '\n'; }
tstat() {
  eval "_tn=\${_tn_${_ti:-x}-} s=\${_ts_${_ti:-x}-}"
  if [ -n "$s" ] && [ "$_tn" = "$1" ]; then return 0; fi
  s=$(stat -c '%a %u %g %U %G %s' -- "$1")
}
tsha() {
  eval "_tn=\${_tn_${_ti:-x}-} h=\${_th_${_ti:-x}-}"
  if [ -n "$h" ] && [ "$_tn" = "$1" ]; then return 0; fi
  h=$(sha256sum < "$1") || return 1
  h=${h%% *}
}
`

// PathProber is implemented by types whose probe reads one path's
// metadata with tstat (and its content's digest with tsha, when hash is
// set). A host's probe script then runs stat, and sha256sum, once for all
// such paths before the fragments instead of once per fragment.
type PathProber interface {
	// want is the desired state the probe compares with, or nil.
	ProbePath(cfg cty.Value, want *State) (path string, hash bool)
}

// contentLimit is the largest current file content a probe returns for
// diffs; larger files are compared by digest only.
const contentLimit = 256 << 10

// pathProbe prints type (absent, file, directory, link, other) and, when
// the path exists, its mode, uid, gid, owner, group and size, without
// following a final symlink.
func pathProbe(path string) string { return pathProbeScript(path).String() }

// pathProbeScript is pathProbe as a script to add to.
func pathProbeScript(path string) *shell.Script {
	return shell.NewScript().Set("p", path).Raw(`if [ -L "$p" ]; then t=link; elif [ -d "$p" ]; then t=directory; elif [ -f "$p" ]; then t=file; elif [ -e "$p" ]; then t=other; else out type absent; exit 0; fi
out type $t
tstat "$p" || exit 1
set -- $s
out mode $1; out uid $2; out gid $3; out owner $4; out group $5; out size $6
`)
}

// InlineProber is implemented by PathProbers whose probe can usually be
// answered from the prefetched values alone, sparing the subshell (a
// fork) that every fragment otherwise costs the host.
type InlineProber interface {
	// ProbeInline returns sh that runs in the probe script's own shell
	// after the prefetch, with _ti set to the fragment's section: it
	// either prints exactly what Probe's fragment would and sets _tok=1,
	// or prints nothing and leaves _tok empty, and the fragment runs. It
	// must not exit, and sets only variables starting with _t and the
	// positional parameters.
	ProbeInline(cfg cty.Value, want *State) string
}

// InShellProber is implemented by types whose probe fragment is written
// to run in the probe script's own shell instead of a subshell (a fork
// per fragment, which costs a host milliseconds). Every fragment runs as
// the body of a shell function; an in-shell one must leave the shell as
// it found it: it ends with return (never exit, except inside $(...) or
// a subshell of its own), assigns each variable before reading it,
// restores IFS and set -f when it changes them, does not cd, trap,
// umask or redirect the shell's own descriptors, and uses no name
// starting with _t.
type InShellProber interface {
	ProbeInShell(cfg cty.Value) bool
}

// pathInline is the inline form of pathProbe: it answers when the path
// is absent, or was prefetched and ok (a shell condition on $_t, the
// type, and $_th, the digest) holds, printing the same values as
// pathProbe, then extra.
func pathInline(path, ok, extra string) string {
	return shell.NewScript().Raw("_tok= ").Set("_tp", path).String() + `eval "_tn=\${_tn_${_ti:-x}-} _ts=\${_ts_${_ti:-x}-} _th=\${_th_${_ti:-x}-}"
if [ -L "$_tp" ]; then _t=link; elif [ -d "$_tp" ]; then _t=directory; elif [ -f "$_tp" ]; then _t=file; elif [ -e "$_tp" ]; then _t=other; else _t=absent; fi
if [ $_t = absent ]; then out type absent; _tok=1
elif [ "$_tn" = "$_tp" ] && [ -n "$_ts" ] && ` + ok + `; then
  out type $_t; set -f; set -- $_ts; set +f
  out mode $1; out uid $2; out gid $3; out owner $4; out group $5; out size $6
` + extra + `  _tok=1
fi
`
}

// pathInfo is a parsed pathProbe.
type pathInfo struct {
	Type                         string
	Mode, UID, GID, Owner, Group string
	Size                         int64
}

func readPathInfo(out ProbeOutput) (pathInfo, error) {
	var pi pathInfo
	t, ok := out.Get("type")
	if !ok {
		return pi, ProbeFailed(out)
	}
	pi.Type = t
	if t == "absent" {
		return pi, nil
	}
	pi.Mode = normMode(out.Values["mode"])
	pi.UID = out.Values["uid"]
	pi.GID = out.Values["gid"]
	pi.Owner = out.Values["owner"]
	pi.Group = out.Values["group"]
	// stat names an id no account has "UNKNOWN": the id is what is known.
	if pi.Owner == "UNKNOWN" {
		pi.Owner = pi.UID
	}
	if pi.Group == "UNKNOWN" {
		pi.Group = pi.GID
	}
	pi.Size, _ = strconv.ParseInt(out.Values["size"], 10, 64)
	if pi.Mode == "" || pi.UID == "" {
		return pi, ProbeFailed(out)
	}
	return pi, nil
}

// ProbeFailed is the error of a probe that printed no usable state: what
// else it printed (the host's words), or that it printed nothing.
func ProbeFailed(out ProbeOutput) error {
	msg := strings.TrimSpace(out.Other)
	if msg == "" {
		msg = "probe printed no state"
	}
	return &ProbeError{Msg: msg}
}

// ProbeError is a probe that failed on the host; Msg is the host's words.
type ProbeError struct{ Msg string }

func (e *ProbeError) Error() string { return e.Msg }

var modeRE = regexp.MustCompile(`^[0-7]{3,4}$`)

// normMode turns "644", "0644" into "0644".
func normMode(m string) string {
	if len(m) == 3 {
		return "0" + m
	}
	return m
}

// checkMode validates a configured mode.
func checkMode(m string) error {
	if !modeRE.MatchString(m) {
		return &AttrError{Attr: "mode", Msg: "must be an octal mode such as \"0644\""}
	}
	return nil
}

// ownerAttrs fills owner and group in a current state in the form the
// configuration uses: numeric when it asked by id, names otherwise.
func ownerAttrs(attrs map[string]cty.Value, cfg cty.Value, pi pathInfo) {
	if isSet(cfg, "owner") {
		if isNumeric(Str(cfg, "owner", "")) {
			attrs["owner"] = cty.StringVal(pi.UID)
		} else {
			attrs["owner"] = cty.StringVal(pi.Owner)
		}
	}
	if isSet(cfg, "group") {
		if isNumeric(Str(cfg, "group", "")) {
			attrs["group"] = cty.StringVal(pi.GID)
		} else {
			attrs["group"] = cty.StringVal(pi.Group)
		}
	}
}

func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func decodeB64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}
