// Package probe gathers what tend needs to know about a host in one round
// trip: the host's facts and the current state of every resource, as ONE
// POSIX sh script run in ONE exec, its output parsed back by section.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Fragment is one resource's probe in a host's script.
type Fragment struct {
	// ID names the fragment in output and errors (the resource address).
	ID     string
	Script string
	// Prelude, when set, writes sh the script runs once in its own shell
	// before every section, given the Config of every fragment with the
	// same Prelude (see resources.ProbePreluder).
	Prelude resources.ProbePreluder
	Config  cty.Value
	// Path, when set, is the path the fragment reads with tstat (and,
	// with Hash, tsha): the script prefetches all of them at once (see
	// resources.ProbeHelpers).
	Path string
	Hash bool
	// Inline, when set with Path, answers from the prefetched values in
	// the script's own shell when it can (resources.InlineProber); Script
	// runs otherwise.
	Inline string
	// InShell runs Script in the script's own shell rather than a
	// subshell, sparing a fork (see resources.InShellProber).
	InShell bool
}

// For returns the fragment probing a resource of typ, with its path
// hint when typ is a resources.PathProber.
func For(id string, typ resources.Type, cfg cty.Value, want *resources.State) Fragment {
	f := Fragment{ID: id, Script: typ.Probe(cfg, want)}
	if p, ok := typ.(resources.ProbePreluder); ok {
		f.Prelude, f.Config = p, cfg
	}
	if sp, ok := typ.(resources.InShellProber); ok {
		f.InShell = sp.ProbeInShell(cfg)
	}
	if pp, ok := typ.(resources.PathProber); ok {
		f.Path, f.Hash = pp.ProbePath(cfg, want)
		if ip, ok := typ.(resources.InlineProber); ok {
			f.Inline = ip.ProbeInline(cfg, want)
		}
	}
	return f
}

// Result is the parsed output of a host's probe script.
type Result struct {
	Facts Facts
	// Outputs holds each fragment's output by ID.
	Outputs map[string]resources.ProbeOutput
	// Failed holds fragments that exited non-zero, with their error text.
	Failed map[string]string
}

// Script builds the host's probe script: the prelude, the prefetch of
// the fragments' paths, the facts section (when withFacts) and one
// section per fragment. A section's body is a function, _tf, called in a
// subshell so one failing probe cannot disturb the others, or, for
// fragments written for it (InShell, the facts), in the script's own
// shell: a fork costs a host milliseconds, and a host's script holds
// hundreds of sections.
func Script(nonce string, withFacts bool, frags []Fragment) string {
	var sb strings.Builder
	// Sized once: a host's script is hundreds of fragments, and growing
	// the buffer as it goes cost a plan of 50 hosts a tenth of its CPU.
	n := len(resources.ProbeHelpers) + len(factsScript) + len(prefetchStat) + len(prefetchHash) + 512
	for _, f := range frags {
		n += len(f.Script) + len(f.Inline) + 2*len(f.Path) + 256
	}
	sb.Grow(n)
	sb.WriteString("LC_ALL=C; export LC_ALL\n")
	sb.WriteString(resources.ProbeHelpers)
	writePreludes(&sb, frags)
	prefetch(&sb, frags)
	mark := "\036tend:" + nonce + ":"
	// body defines _tf and runs it, leaving its status in _tr. The
	// colon keeps an empty body valid sh.
	body := func(script string, inShell bool) {
		sb.WriteString("_tf() {\n:\n")
		sb.WriteString(script)
		if !strings.HasSuffix(script, "\n") {
			sb.WriteByte('\n')
		}
		if inShell {
			sb.WriteString("}\n_tf 2>&1\n_tr=$?\n")
		} else {
			sb.WriteString("}\n(_tf) 2>&1\n_tr=$?\n")
		}
	}
	end := func() { fmt.Fprintf(&sb, "printf '%%s%%s\\n' '%send:' $_tr\n", mark) }
	if withFacts {
		fmt.Fprintf(&sb, "_ti=x\nprintf '%%s\\n' '%sbegin:facts'\n", mark)
		body(factsScript, true)
		end()
	}
	for i, f := range frags {
		// Sections are numbered: addresses may hold any character. _ti
		// tells tstat and tsha which prefetched values are the section's.
		fmt.Fprintf(&sb, "_ti=%d\nprintf '%%s\\n' '%sbegin:%d'\n", i, mark, i)
		if f.Inline != "" && prefetched(f) {
			// Answered in this shell when the prefetch suffices (no
			// fork), else by the fragment.
			fmt.Fprintf(&sb, "%sif [ -n \"$_tok\" ]; then _tr=0; else\n", f.Inline)
			body(f.Script, f.InShell)
			sb.WriteString("fi\n")
		} else {
			body(f.Script, f.InShell)
		}
		end()
	}
	return sb.String()
}

// writePreludes writes each distinct Prelude of frags once, given the
// configurations of its fragments, in the order they first appear.
func writePreludes(sb *strings.Builder, frags []Fragment) {
	var ps []resources.ProbePreluder
	var cfgs [][]cty.Value
	for _, f := range frags {
		if f.Prelude == nil {
			continue
		}
		i := slices.Index(ps, f.Prelude)
		if i < 0 {
			i = len(ps)
			ps = append(ps, f.Prelude)
			cfgs = append(cfgs, nil)
		}
		cfgs[i] = append(cfgs[i], f.Config)
	}
	for i, p := range ps {
		if s := p.ProbePrelude(cfgs[i]); s != "" {
			fmt.Fprintf(sb, "{\n%s\n} >/dev/null 2>&1 </dev/null\n", s)
		}
	}
}

// prefetchStat stats the paths given (not following final symlinks) in
// one process and stores each one's result in _ts_I, where the
// variables _tq_K and _tx_K name the K-th path given and its section I.
// stat prints in argument order and skips what it cannot stat, so one
// ordered pass matches its lines to the paths.
const prefetchStat = `_tps() {
  _o=$(stat -c '%a %u %g %U %G %s %n' -- "$@" 2>/dev/null)
  _k=0
  while IFS= read -r _l; do
    [ -n "$_l" ] || continue
    _r=$_l; for _x in 1 2 3 4 5 6; do _r=${_r#* }; done
    _v=${_l%" $_r"}
    while [ "$_k" -lt "$#" ]; do
      eval "_n=\$_tq_$_k _i=\$_tx_$_k"; _k=$((_k + 1))
      if [ "$_n" = "$_r" ]; then eval "_ts_$_i=\$_v"; break; fi
    done
  done <<_TEND_EOF_
$_o
_TEND_EOF_
}
`

// prefetchHash hashes, in one process, those of the sections' paths
// named by _thx_0.._thx_(N-1) (section numbers; N is $1) that are regular
// files, not symlinks (never a FIFO or device, which could block), and
// stores each digest in _th_I. The process is sha256sum, or, when one of
// the files is 1 MiB or more (as the stat prefetch found) and the host
// has it, openssl: its SHA-256 is several times faster (it uses the
// CPU's SHA instructions) but it costs more to start. Their lines differ
// only in the character before the name (sha256sum's " ", openssl -r's
// "*").
const prefetchHash = `_tph() {
  _m=0; _c=0; _tbig=; _nh=$1; shift
  while [ "$_m" -lt "$_nh" ]; do
    eval "_i=\$_thx_$_m"; eval "_n=\$_tn_$_i"; _m=$((_m + 1))
    if [ -f "$_n" ] && [ ! -L "$_n" ]; then
      set -- "$@" "$_n"; eval "_thy_$_c=\$_i"; _c=$((_c + 1))
      eval "_tsz=\${_ts_$_i-}"; _tsz=${_tsz##* }
      case $_n in /*) ;; *) _tbig=0 ;; esac
      case $_tsz in '' | *[!0-9]*) ;; *) [ "$_tsz" -lt 1048576 ] || _tbig=${_tbig:-1} ;; esac
    fi
  done
  [ "$#" -gt 0 ] || return 0
  if [ "$_tbig" = 1 ] && command -v openssl >/dev/null 2>&1; then
    _o=$(openssl dgst -sha256 -r "$@" 2>/dev/null)
  else
    _o=$(sha256sum -- "$@" 2>/dev/null)
  fi
  _k=0
  while IFS= read -r _l; do
    [ -n "$_l" ] || continue
    _v=${_l%% *}; _r=${_l#* }; _r=${_r#[ *]}
    while [ "$_k" -lt "$_c" ]; do
      eval "_i=\$_thy_$_k"; _k=$((_k + 1)); eval "_n=\$_tn_$_i"
      if [ "$_n" = "$_r" ]; then eval "_th_$_i=\$_v"; break; fi
    done
  done <<_TEND_EOF_
$_o
_TEND_EOF_
}
`

// prefetched reports whether the script prefetches f's path.
func prefetched(f Fragment) bool {
	return f.Path != "" && !strings.ContainsAny(f.Path, "\n\\")
}

// prefetch writes the part of the script that reads every fragment's
// path hint at once: one stat and one sha256sum for the whole host
// instead of one each per fragment. Paths holding a newline or a
// backslash (which stat's and sha256sum's line output cannot carry
// plainly) are left to the fragments' own commands.
func prefetch(sb *strings.Builder, frags []Fragment) {
	s := shell.NewScript()
	var paths []string
	var hashed uint
	for i, f := range frags {
		if !prefetched(f) {
			continue
		}
		k, i := uint(len(paths)), uint(i)
		s.Raw("_tn_").Int(i).Word("=", f.Path, "; _tq_").Int(k).Raw("=$_tn_").Int(i).Raw("; _tx_").Int(k).Raw("=").Int(i).Line("")
		paths = append(paths, f.Path)
		if f.Hash {
			s.Raw("_thx_").Int(hashed).Raw("=").Int(i).Line("")
			hashed++
		}
	}
	if len(paths) == 0 {
		return
	}
	s.Raw(prefetchStat).Run(shell.Cmd("_tps").Arg(paths...))
	if hashed > 0 {
		s.Raw(prefetchHash).Raw("_tph ").Int(hashed).Line("")
	}
	sb.WriteString(s.String())
}

// Parse splits a probe script's output into sections.
func Parse(nonce string, withFacts bool, frags []Fragment, out []byte) (*Result, error) {
	mark := []byte("\036tend:" + nonce + ":")
	res := &Result{Outputs: map[string]resources.ProbeOutput{}, Failed: map[string]string{}}
	var cur *resources.ProbeOutput
	var curID string
	var other strings.Builder
	seen := map[string]bool{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.HasPrefix(line, mark) {
			rest := string(line[len(mark):])
			switch {
			case strings.HasPrefix(rest, "begin:"):
				curID = rest[len("begin:"):]
				cur = &resources.ProbeOutput{Values: map[string]string{}}
				other.Reset()
			case strings.HasPrefix(rest, "end:") && cur != nil:
				cur.Other = other.String()
				id := curID
				if id != "facts" {
					n, err := strconv.Atoi(id)
					if err != nil || n < 0 || n >= len(frags) {
						return nil, fmt.Errorf("probe output names an unknown section %q", id)
					}
					id = frags[n].ID
				}
				seen[id] = true
				if rc := rest[len("end:"):]; rc != "0" {
					msg := strings.TrimSpace(cur.Other)
					if msg == "" {
						msg = "exit status " + rc
					}
					res.Failed[id] = msg
				}
				if id == "facts" {
					res.Facts = parseFacts(*cur)
				} else {
					res.Outputs[id] = *cur
				}
				cur = nil
			}
			continue
		}
		if cur == nil {
			continue
		}
		if len(line) > 0 && line[0] == '\037' {
			if k, v, ok := strings.Cut(string(line[1:]), "="); ok {
				cur.Values[k] = v
				continue
			}
		}
		other.Write(line)
		other.WriteByte('\n')
	}
	if withFacts && !seen["facts"] {
		return nil, fmt.Errorf("probe output ended before the facts section")
	}
	for _, f := range frags {
		if !seen[f.ID] {
			return nil, fmt.Errorf("probe output ended before the section of %s", f.ID)
		}
	}
	return res, nil
}

// Run builds, runs and parses a host's probe script in one exec. The
// probe is the only script of a plan and of an apply that finds nothing
// to change, so it is sent as a OneShot.
func Run(ctx context.Context, t transport.Transport, withFacts bool, frags []Fragment) (*Result, error) {
	nonce := newNonce()
	script := Script(nonce, withFacts, frags)
	res, err := t.Run(ctx, transport.Command{Script: script, Stdin: bytes.NewReader(nil), OneShot: true})
	if err != nil {
		return nil, err
	}
	parsed, perr := Parse(nonce, withFacts, frags, res.Stdout)
	if perr != nil {
		if res.ExitStatus != 0 || len(res.Stderr) > 0 {
			return nil, fmt.Errorf("probe script failed (exit status %d): %s", res.ExitStatus, strings.TrimSpace(string(res.Stderr)))
		}
		return nil, perr
	}
	return parsed, nil
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
