package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
	"github.com/tendhq/tend/transport"
)

// emitted is what an outputStream handed on: one string per line, a
// partial one ending in "…".
type emitted []string

func (e *emitted) emit(b []byte, partial bool) {
	s := string(b)
	if partial {
		s += "…"
	}
	*e = append(*e, s)
}

func TestOutputStream(t *testing.T) {
	r := redact.New()
	r.Add("s3cr3t-value-xyz")
	several := redact.New()
	several.Add("first-line-of-a-key\nsecond-line-of-a-key")
	for name, c := range map[string]struct {
		red    *redact.Redactor
		max    int
		chunks []string
		// want is what has been emitted after each chunk, then after Close.
		want []emitted
	}{
		"secret split across two reads": {
			max:    100,
			chunks: []string{"abc s3cr", "3t-value-xyz def\nnext"},
			want:   []emitted{nil, {"abc (sensitive) def"}, {"abc (sensitive) def", "next…"}},
		},
		"lines go out as they end, the rest waits": {
			max:    100,
			chunks: []string{"one\ntw", "o\n", "three"},
			want:   []emitted{{"one"}, {"one", "two"}, {"one", "two"}, {"one", "two", "three…"}},
		},
		"a secret of several lines holds nothing back": {
			red:    several,
			max:    100,
			chunks: []string{"a\n", "key: first-line-of-a-key\n", "second-line-of-a-key done\n"},
			want: []emitted{
				{"a"},
				{"a", "key: (sensitive)"},
				{"a", "key: (sensitive)", "(sensitive) done"},
				{"a", "key: (sensitive)", "(sensitive) done"},
			},
		},
		"an overlong line is cut between characters": {
			// 9 bytes would end in the middle of the fifth é.
			max:    9,
			chunks: []string{"ééééééé", "é\nok\n"},
			want:   []emitted{nil, {"éééé…", "éééé", "ok"}, {"éééé…", "éééé", "ok"}},
		},
		"a secret across the cut of an overlong line": {
			// The redactor holds back what could begin the secret (15
			// bytes) until it knows: the cut never splits it.
			max:    12,
			chunks: []string{"0123456789abcdefghijs3cr3t-", "value-xyz", " tail"},
			want: []emitted{
				nil,
				{"0123456789ab…"},
				{"0123456789ab…"}, // a longer secret may still follow
				{"0123456789ab…", "cdefghij(sen…", "sitive) tail…"},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var got emitted
			red := r
			if c.red != nil {
				red = c.red
			}
			s := newOutputStream(red, got.emit)
			s.lines.max = c.max
			var raw strings.Builder
			for i, ch := range c.chunks {
				if n, err := s.Write([]byte(ch)); n != len(ch) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", ch, n, err)
				}
				raw.WriteString(ch)
				if d := cmp.Diff(c.want[i], got); d != "" {
					t.Errorf("after chunk %d (-want +got):\n%s", i, d)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want[len(c.chunks)], got); d != "" {
				t.Errorf("after Close (-want +got):\n%s", d)
			}
			for _, l := range got {
				if !utf8.ValidString(l) || len(strings.TrimSuffix(l, "…")) > c.max {
					t.Errorf("line %q: not UTF-8, or longer than %d bytes", l, c.max)
				}
			}
			// The journal's digest is of what the host sent.
			// Cut or not, the lines are the output scrubbed line by line.
			var joined strings.Builder
			for _, l := range got {
				if p, ok := strings.CutSuffix(l, "…"); ok {
					joined.WriteString(p)
				} else {
					joined.WriteString(l + "\n")
				}
			}
			var want string
			for _, l := range strings.SplitAfter(raw.String(), "\n") {
				want += red.String(l)
			}
			if joined.String() != want {
				t.Errorf("the lines join to %q, want %q", joined.String(), want)
			}
			if d := s.digest(); d != outputDigest([]byte(raw.String())) {
				t.Errorf("digest %+v, want %+v", d, outputDigest([]byte(raw.String())))
			}
		})
	}
}

// chunkStep is one write of a scripted host: to its stream, after the
// output tend has printed so far is checked.
type chunkStep struct {
	host, stream, chunk string
	// stdout and stderr are what tend must have printed before the write.
	stdout, stderr string
}

// chunkHosts plays steps in order across hosts that run at once: each
// host's Run writes its steps' chunks when their turn comes, and checks
// before each that tend printed what the earlier ones make whole.
type chunkHosts struct {
	t              *testing.T
	steps          []chunkStep
	turns          []chan struct{}
	stdout, stderr *syncBuffer
	json           bool
}

func (c *chunkHosts) connect(name string) transport.Transport { return chunkHost{c, name} }

type chunkHost struct {
	c    *chunkHosts
	name string
}

func (h chunkHost) Run(ctx context.Context, cmd transport.Command) (*transport.Result, error) {
	c := h.c
	if cmd.Stdout == nil || cmd.Stderr == nil {
		return nil, fmt.Errorf("%s: tend run --no-group gave no stream writers", h.name)
	}
	for i, s := range c.steps {
		if s.host != h.name {
			continue
		}
		select {
		case <-c.turns[i]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !c.json {
			if got := c.stdout.String(); got != s.stdout {
				c.t.Errorf("before step %d, stdout is %q, want %q", i, got, s.stdout)
			}
			if got := c.stderr.String(); got != s.stderr {
				c.t.Errorf("before step %d, stderr is %q, want %q", i, got, s.stderr)
			}
		}
		w := cmd.Stdout
		if s.stream == "stderr" {
			w = cmd.Stderr
		}
		if _, err := w.Write([]byte(s.chunk)); err != nil {
			return nil, err
		}
		close(c.turns[i+1])
	}
	return &transport.Result{ExitStatus: 0}, nil
}

func (chunkHost) Close() error { return nil }

// TestRunNoGroupStreamsLines: two hosts write their output in chunks that
// interleave, lines cut anywhere and a secret split across two writes;
// each line is printed, prefixed by its host, as soon as it is whole,
// stdout's and stderr's apart, never mixed with another host's, the
// secret redacted; the last lines without a line break at the end. The
// journal's digests are of what the hosts sent.
func TestRunNoGroupStreamsLines(t *testing.T) {
	t.Setenv("TEND_TEST_RUN_TOKEN", "tok-3f9a1c77")
	steps := []chunkStep{
		{host: "web01", stream: "stdout", chunk: "hel"},
		{host: "web02", stream: "stdout", chunk: "wor"},
		{host: "web01", stream: "stdout", chunk: "lo\nthe tok-3f"},
		{host: "web02", stream: "stderr", chunk: "oops", stdout: "web01: hello\n"},
		{host: "web02", stream: "stdout", chunk: "ld\n", stdout: "web01: hello\n"},
		{host: "web01", stream: "stdout", chunk: "9a1c77 end\nno new", stdout: "web01: hello\nweb02: world\n"},
		{host: "web02", stream: "stderr", chunk: " again\n", stdout: "web01: hello\nweb02: world\nweb01: the (sensitive) end\n"},
		{host: "web01", stream: "stdout", chunk: "line", stdout: "web01: hello\nweb02: world\nweb01: the (sensitive) end\n", stderr: "web02: oops again\n"},
	}
	sent := map[string]string{}
	for _, s := range steps {
		sent[s.host+" "+s.stream] += s.chunk
	}
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			c := &chunkHosts{t: t, steps: steps, stdout: &syncBuffer{}, stderr: &syncBuffer{}, json: asJSON}
			for range len(steps) + 1 {
				c.turns = append(c.turns, make(chan struct{}))
			}
			close(c.turns[0])
			connectHook = func(plan.Connector) plan.Connector {
				return func(_ context.Context, h *inventory.Host) (transport.Transport, error) { return c.connect(h.Name), nil }
			}
			t.Cleanup(func() { connectHook = nil })
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"inventory.hcl": `
host "web01" { transport = "local" }
host "web02" { transport = "local" }
group "all" {
  vars = { token = secret("env:TEND_TEST_RUN_TOKEN") }
}
`})
			args := []string{"run", "-C", dir, "--no-group", "all", "--", "true"}
			if asJSON {
				args = append([]string{"run", "--json"}, args[1:]...)
			}
			code := Run(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: c.stdout, Stderr: c.stderr})
			out, errb := c.stdout.String(), c.stderr.String()
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errb)
			}
			if strings.Contains(out+errb, "tok-3f9a1c77") {
				t.Errorf("the secret was printed:\n%s%s", out, errb)
			}
			r := lastRun(t, dir)
			for _, h := range r.Hosts {
				if h.Result == nil || h.Result.Stdout != outputDigest([]byte(sent[h.Name+" stdout"])) || h.Result.Stderr != outputDigest([]byte(sent[h.Name+" stderr"])) {
					t.Errorf("%s: journaled %+v, want the digests of what it sent", h.Name, h.Result)
				}
			}
			if !asJSON {
				wantOut := "web01: hello\nweb02: world\nweb01: the (sensitive) end\n"
				if !strings.HasPrefix(out, wantOut+"web01: no newline\n") || !strings.Contains(out, "2 hosts: 2 exit 0 (web[01-02]).") {
					t.Errorf("stdout:\n%s", out)
				}
				if errb != "web02: oops again\n" {
					t.Errorf("stderr %q", errb)
				}
				return
			}
			msgs := jsonLines(t, uiSchema(t), args, out, code)
			lines := map[string][]string{}
			for _, m := range msgs {
				switch m["type"] {
				case "command_output":
					k := m["host"].(string) + " " + m["stream"].(string)
					s := m["text"].(string)
					if m["partial"] == true {
						s += "…"
					}
					lines[k] = append(lines[k], s)
				case "command_result":
					if m["streamed"] != true || m["stdout"] != nil {
						t.Errorf("command_result %v, want streamed and no stdout", m)
					}
				}
			}
			want := map[string][]string{
				"web01 stdout": {"hello", "the (sensitive) end", "no newline…"},
				"web02 stdout": {"world"},
				"web02 stderr": {"oops again"},
			}
			if d := cmp.Diff(want, lines); d != "" {
				t.Errorf("command_output (-want +got):\n%s", d)
			}
		})
	}
}
