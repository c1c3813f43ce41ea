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
	"strconv"
	"strings"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

// Fragment is one resource's probe in a host's script.
type Fragment struct {
	// ID names the fragment in output and errors (the resource address).
	ID     string
	Script string
	// Prelude is sh the script runs once in its own shell before every
	// section (see resources.ProbePreluder); fragments of one type share it.
	Prelude string
}

// Result is the parsed output of a host's probe script.
type Result struct {
	Facts Facts
	// Outputs holds each fragment's output by ID.
	Outputs map[string]resources.ProbeOutput
	// Failed holds fragments that exited non-zero, with their error text.
	Failed map[string]string
}

// Script builds the host's probe script: the prelude, the facts section
// (when withFacts) and one section per fragment, each in its own subshell
// so one failing probe cannot disturb the others.
func Script(nonce string, withFacts bool, frags []Fragment) string {
	var sb strings.Builder
	sb.WriteString("LC_ALL=C; export LC_ALL\n")
	sb.WriteString(resources.ProbeHelpers)
	seen := map[string]bool{}
	for _, f := range frags {
		if f.Prelude != "" && !seen[f.Prelude] {
			seen[f.Prelude] = true
			fmt.Fprintf(&sb, "{\n%s\n} >/dev/null 2>&1 </dev/null\n", f.Prelude)
		}
	}
	mark := "\036tend:" + nonce + ":"
	section := func(id, body string) {
		fmt.Fprintf(&sb, "printf '%%s\\n' '%sbegin:%s'\n(\n%s) 2>&1\nprintf '%%s%%s\\n' '%send:' $?\n",
			mark, strings.ReplaceAll(id, "'", ""), body, mark)
	}
	if withFacts {
		section("facts", factsScript)
	}
	for i, f := range frags {
		// Sections are numbered: addresses may hold any character.
		section(strconv.Itoa(i), f.Script)
	}
	return sb.String()
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

// Run builds, runs and parses a host's probe script in one exec.
func Run(ctx context.Context, t transport.Transport, withFacts bool, frags []Fragment) (*Result, error) {
	nonce := newNonce()
	script := Script(nonce, withFacts, frags)
	res, err := t.Run(ctx, transport.Command{Script: script, Stdin: bytes.NewReader(nil)})
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
