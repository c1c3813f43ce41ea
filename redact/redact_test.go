package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	r := New()
	r.Add("hunter2-canary")
	r.Add("abc") // too short: not redacted by value
	r.Add(`quo"te\d`)
	for in, want := range map[string]string{
		"":                                   "",
		"nothing here abc":                   "nothing here abc",
		"pw=hunter2-canary;":                 "pw=(sensitive);",
		"hunter2-canaryhunter2-canary":       "(sensitive)",
		`cannot convert "quo\"te\\d" to num`: `cannot convert "(sensitive)" to num`,
		`raw quo"te\d`:                       `raw (sensitive)`,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOverlapping: two secrets sharing bytes are replaced as one, so no
// part of either shows.
func TestOverlapping(t *testing.T) {
	r := New()
	r.Add("abcdef")
	r.Add("defghi")
	if got, want := r.String("x abcdefghi y"), "x (sensitive) y"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := r.String("x defghiabcdef y"), "x (sensitive) y"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMultiline(t *testing.T) {
	r := New()
	r.Add("-----BEGIN KEY-----\nMIIEsecretline\n-----END KEY-----\n")
	if got := r.String("diff: + MIIEsecretline"); strings.Contains(got, "MIIE") {
		t.Errorf("a line of a multi-line secret shows: %q", got)
	}
}

// TestWriterSplit writes text holding secrets in every split of one
// byte at a time and in two pieces at every offset: no split lets a
// secret through, and every other byte comes out in order.
func TestWriterSplit(t *testing.T) {
	r := New()
	r.Add("s3cr3t-canary")
	r.Add("t-canary-two")
	text := "line one\nusing s3cr3t-canary here\nand s3cr3t-canary-two and t-canary-two\ntail s3cr3t-can"
	want := r.String(text)
	if strings.Contains(want, "canary") && !strings.HasSuffix(want, "s3cr3t-can") {
		t.Fatalf("String leaves a secret: %q", want)
	}
	for i := 0; i <= len(text); i++ {
		var out bytes.Buffer
		w := r.Writer(&out)
		w.Write([]byte(text[:i]))
		w.Write([]byte(text[i:]))
		w.Flush()
		if out.String() != want {
			t.Errorf("split at %d: %q, want %q", i, out.String(), want)
		}
	}
	var out bytes.Buffer
	w := r.Writer(&out)
	for i := range len(text) {
		w.Write([]byte{text[i]})
	}
	w.Flush()
	if out.String() != want {
		t.Errorf("byte by byte: %q, want %q", out.String(), want)
	}
}

// TestWriterLines: a complete line is passed on at once, not held until
// the next write.
func TestWriterLines(t *testing.T) {
	r := New()
	r.Add("a-long-secret-value")
	var out bytes.Buffer
	w := r.Writer(&out)
	w.Write([]byte("Applying a-long-secret-value\n"))
	if got, want := out.String(), "Applying (sensitive)\n"; got != want {
		t.Errorf("after a line: %q, want %q", got, want)
	}
	w.Write([]byte("prompt: "))
	if strings.Contains(out.String(), "prompt") && out.String() != "Applying (sensitive)\nprompt: " {
		t.Errorf("partial: %q", out.String())
	}
	w.Flush()
	if got, want := out.String(), "Applying (sensitive)\nprompt: "; got != want {
		t.Errorf("after Flush: %q, want %q", got, want)
	}
}

// TestWriterNoSecret passes text through unchanged and undelayed when
// nothing is registered.
func TestWriterNoSecret(t *testing.T) {
	var out bytes.Buffer
	w := New().Writer(&out)
	w.Write([]byte("partial"))
	if out.String() != "partial" {
		t.Errorf("held back with no secret: %q", out.String())
	}
	r := New()
	r.Add("zzzz-secret")
	out.Reset()
	w = r.Writer(&out)
	w.Write([]byte("no secret at all in this line\n"))
	if out.String() != "no secret at all in this line\n" {
		t.Errorf("got %q", out.String())
	}
}
