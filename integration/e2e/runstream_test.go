package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cli"
	"github.com/tendhq/tend/integration/lab"
)

// TestAdHocRunStreams: tend run --no-group over SSH prints a host's line
// while the command still runs. Each host prints a line (holding the
// inventory's secret), then waits for a marker file the test creates only
// once tend has printed that line on every host; then prints a second
// line and a last one without a line break. Without streaming the first
// lines would never come before the markers, and the test's bound fails
// it.
func TestAdHocRunStreams(t *testing.T) {
	lab.Required(t)
	l := lab.StartT(t, lab.Options{Hosts: 2, Name: "stream"})
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	if err := l.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	const token = "tok-e2e-5eedf00d"
	t.Setenv("TEND_E2E_STREAM_TOKEN", token)
	f, err := os.OpenFile(inv, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "\ngroup \"lab\" {\n  vars = { api_token = secret(\"env:TEND_E2E_STREAM_TOKEN\") }\n}")
	f.Close()
	markers := map[string]string{}
	for _, h := range l.Hosts {
		write(t, filepath.Join(h.Root, "etc/app-token"), token+"\n")
		markers[h.Name] = filepath.Join(h.Root, "etc/go-on")
		os.Remove(markers[h.Name])
	}
	release := func() {
		for _, m := range markers {
			if err := os.WriteFile(m, nil, 0o644); err != nil {
				t.Error(err)
			}
		}
	}

	command := `echo "first $(cat /etc/app-token)"; echo warming >&2; ` +
		`while [ ! -e /etc/go-on ]; do sleep 0.1; done; echo second; printf 'no line break'`
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- cli.Run(context.Background(), []string{"run", "-C", dir, "--no-group", "--timeout", "5m", "all", "--", command},
			cli.IO{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errb})
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	var got []string
	// The first lines, before any marker exists.
	firsts := map[string]bool{}
	bound := time.After(3 * time.Minute)
	for len(firsts) < len(l.Hosts) {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("tend ended before every host's first line:\n%s\n%s", strings.Join(got, "\n"), errb.String())
			}
			got = append(got, line)
			name, text, _ := strings.Cut(line, ":")
			if strings.TrimSpace(text) == "first (sensitive)" {
				firsts[name] = true
			}
			if strings.Contains(text, "second") {
				t.Fatalf("a second line before the markers: %q", line)
			}
		case <-bound:
			release() // let the hosts finish
			t.Fatalf("no first line from every host while the commands waited (got %q); the output is not streamed", got)
		}
	}
	release()
	for line := range lines {
		got = append(got, line)
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit %d\n%s\n%s", c, strings.Join(got, "\n"), errb.String())
	}
	out := strings.Join(got, "\n")
	for _, h := range l.Hosts {
		for _, want := range []string{h.Name + ": first (sensitive)", h.Name + ": second", h.Name + ": no line break"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the output:\n%s", want, out)
			}
		}
		if !strings.Contains(errb.String(), h.Name+": warming") {
			t.Errorf("no %s: warming on stderr:\n%s", h.Name, errb.String())
		}
	}
	if strings.Contains(out+errb.String(), token) {
		t.Errorf("the secret was printed:\n%s%s", out, errb.String())
	}
	// The journal keeps digests of what each host sent, as grouped runs do.
	r := lastRunOf(t, dir)
	for _, h := range r.Hosts {
		if res := h.Result; res == nil || res.ExitStatus == nil || *res.ExitStatus != 0 ||
			res.Stdout.Bytes != len("first "+token+"\nsecond\nno line break") || res.Stderr.Bytes != len("warming\n") {
			t.Errorf("%s: journaled %+v", h.Name, h.Result)
		}
	}
}
