// Package redact is tend's last line of defence against printing a
// secret: a Redactor holds the secret values of the run and scrubs them,
// by value, from every byte stream and string that leaves the process.
//
// Marks are the main defence: values derived from secret(...) or a
// sensitive variable carry cty marks, and views print "(sensitive)" for
// them without ever formatting the value. Redaction by value catches what
// marks cannot follow: a program's stderr that echoes a secret, an error
// message that quotes a value, text built from an unmarked copy.
//
// Values shorter than MinLen bytes are not redacted by value: replacing
// every "ab" or "42" would garble output and, by its pattern, tell what
// the value is. Such secrets are still kept out of output by their marks.
package redact

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Replacement is what a secret value is replaced with.
const Replacement = "(sensitive)"

// MinLen is the length in bytes from which a value is redacted by value.
const MinLen = 4

// Redactor is a set of secret values. Safe for concurrent use; values
// added after a Writer was made are redacted from what it is given next.
type Redactor struct {
	mu   sync.RWMutex
	set  map[string]bool
	vals []string // longest first
	// maxLen is the length of the longest value; nl says whether a value
	// holds a line break (then line breaks are no safe place to flush).
	maxLen int
	nl     bool
}

// Default is the process's redactor: secrets are registered with it as a
// run resolves them, and the command line scrubs its output with it.
var Default = New()

// New returns an empty redactor.
func New() *Redactor { return &Redactor{set: map[string]bool{}} }

// Add registers a secret value and the forms it takes when quoted (Go
// and JSON escaping) and, for a value of several lines, each of its
// lines. It reports whether v is redacted by value: false when it is
// shorter than MinLen.
func (r *Redactor) Add(v string) bool {
	if len(v) < MinLen {
		return false
	}
	forms := []string{v}
	if q := strconv.Quote(v); q[1:len(q)-1] != v {
		forms = append(forms, q[1:len(q)-1])
	}
	if b, err := json.Marshal(v); err == nil && string(b[1:len(b)-1]) != v {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	if strings.ContainsAny(v, "\r\n") {
		for _, l := range strings.FieldsFunc(v, func(c rune) bool { return c == '\n' || c == '\r' }) {
			if l = strings.TrimSpace(l); len(l) >= MinLen {
				forms = append(forms, l)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, f := range forms {
		if len(f) < MinLen || r.set[f] {
			continue
		}
		r.set[f] = true
		r.vals = append(r.vals, f)
		r.maxLen = max(r.maxLen, len(f))
		r.nl = r.nl || strings.ContainsAny(f, "\r\n")
		changed = true
	}
	if changed {
		sort.Slice(r.vals, func(i, j int) bool { return len(r.vals[i]) > len(r.vals[j]) })
	}
	return true
}

// Len returns the number of values (forms included) the redactor holds.
func (r *Redactor) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.vals)
}

// String returns s with every secret value replaced.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.vals) == 0 {
		return s
	}
	out, _ := r.scrub([]byte(s), len(s))
	return string(out)
}

// scrub replaces the secret values found in b, returning the scrubbed
// text of b[:n'] and n', the bytes of b it consumed: every occurrence
// that starts before cut is within b[:n'], and b[n':] begins no run of
// redacted bytes (it is what a stream must keep until more comes). The
// read lock is held.
func (r *Redactor) scrub(b []byte, cut int) ([]byte, int) {
	// covered[i] says byte i is part of a secret; overlapping and
	// adjacent occurrences merge into one replacement, so no part of
	// either shows.
	var covered []bool
	s := string(b)
	for _, v := range r.vals {
		for i := 0; ; {
			j := strings.Index(s[i:], v)
			if j < 0 {
				break
			}
			if covered == nil {
				covered = make([]bool, len(b))
			}
			for k := i + j; k < i+j+len(v); k++ {
				covered[k] = true
			}
			i += j + 1
		}
	}
	if covered == nil {
		return b[:cut], cut
	}
	// A run of covered bytes that crosses cut is kept whole for later:
	// what follows may extend it.
	if cut < len(b) {
		for cut > 0 && covered[cut-1] && covered[cut] {
			cut--
		}
	}
	out := make([]byte, 0, cut)
	for i := 0; i < cut; {
		if !covered[i] {
			out = append(out, b[i])
			i++
			continue
		}
		out = append(out, Replacement...)
		for i < cut && covered[i] {
			i++
		}
	}
	return out, cut
}

// Writer returns a writer scrubbing what it is given before passing it
// to w. It holds back the end of its input that could begin a secret
// (up to the longest value's length less one byte) until more comes, a
// line ends or Flush is called: a secret split across writes is still
// replaced. Call Flush when done. Safe for concurrent use.
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// Writer is a scrubbing writer; see Redactor.Writer.
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer. It reports len(p) written when the
// underlying writer took what could be passed on.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if err := w.pass(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush passes on everything held back.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pass(true)
}

// Close flushes; it does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }

func (w *Writer) pass(all bool) error {
	if len(w.buf) == 0 {
		return nil
	}
	w.r.mu.RLock()
	cut := len(w.buf)
	if !all && len(w.r.vals) > 0 {
		cut = max(0, len(w.buf)-(w.r.maxLen-1))
		// No value holds a line break: none spans one, so everything to
		// the last one can go (line-oriented output is never delayed).
		if !w.r.nl {
			if i := lastBreak(w.buf); i+1 > cut {
				cut = i + 1
			}
		}
	}
	var out []byte
	if len(w.r.vals) == 0 {
		out = w.buf[:cut]
	} else {
		out, cut = w.r.scrub(w.buf, cut)
	}
	w.r.mu.RUnlock()
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			return err
		}
	}
	w.buf = append(w.buf[:0], w.buf[cut:]...)
	return nil
}

func lastBreak(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' || b[i] == '\r' {
			return i
		}
	}
	return -1
}

// Add registers v with Default.
func Add(v string) bool { return Default.Add(v) }

// String scrubs s with Default.
func String(s string) string { return Default.String(s) }
