package cli

import (
	"bytes"
	"encoding/hex"
	"hash"
	"io"
	"unicode/utf8"

	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/redact"
)

// maxStreamLine bounds a line tend run --no-group holds while waiting for
// its end: a longer one is printed in pieces of at most this many bytes,
// each a line of its own, cut between two UTF-8 characters.
const maxStreamLine = 64 << 10

// outputStream is one stream (standard output or error) of one host in
// tend run --no-group: what the host sends is digested as it is (for the
// journal), scrubbed of secret values, cut into lines, and each line is
// handed to emit as soon as it is whole. Scrubbing comes before cutting:
// a secret split across two reads, or across a cut of an overlong line,
// is still replaced, since the redactor holds back what could begin one
// until the line ends.
type outputStream struct {
	sum   hash.Hash
	n     int
	red   *redact.Writer
	lines lineCutter
}

// newOutputStream returns a stream passing r's scrubbed lines to emit.
// emit gets a line without its line break, and partial set when the text
// ends no line (a cut overlong line, or the stream's end without a line
// break); it must not keep the slice.
func newOutputStream(r *redact.Redactor, emit func(line []byte, partial bool)) *outputStream {
	s := &outputStream{sum: redact.KeyedHash(), lines: lineCutter{max: maxStreamLine, emit: emit}}
	s.red = r.Writer(&s.lines)
	return s
}

// Write implements io.Writer for the transport. The complete lines of p
// are scrubbed and passed on at once: a redactor that knows a secret of
// several lines would otherwise hold back its length of output after
// every line, and each line of such a secret is a secret value of its
// own. What follows the last line break waits for more, as the redactor
// decides.
func (s *outputStream) Write(p []byte) (int, error) {
	n := len(p)
	s.sum.Write(p)
	s.n += n
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		if _, err := s.red.Write(p[:i+1]); err != nil {
			return 0, err
		}
		if err := s.red.Flush(); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	if _, err := s.red.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// Close passes on what was held back, the last line without a line break
// included.
func (s *outputStream) Close() error {
	err := s.red.Flush()
	s.lines.flush()
	return err
}

// digest describes what the host sent, as outputDigest does.
func (s *outputStream) digest() journal.OutputDigest {
	d := journal.OutputDigest{Bytes: s.n}
	if s.n > 0 {
		d.Digest = redact.KeyedPrefix + hex.EncodeToString(s.sum.Sum(nil))
	}
	return d
}

// lineCutter cuts what it is given into lines for emit.
type lineCutter struct {
	max  int
	buf  []byte
	emit func(line []byte, partial bool)
}

func (c *lineCutter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	start := 0
	for {
		rest := c.buf[start:]
		if i := bytes.IndexByte(rest, '\n'); i >= 0 && i <= c.max {
			c.emit(rest[:i], false)
			start += i + 1
			continue
		}
		if len(rest) <= c.max {
			break
		}
		cut := c.max
		// Back up to the start of a UTF-8 character, when there is one
		// within a character's length (binary output is cut where it is).
		for k := cut; k > 0 && k > cut-utf8.UTFMax; k-- {
			if utf8.RuneStart(rest[k]) {
				cut = k
				break
			}
		}
		c.emit(rest[:cut], true)
		start += cut
	}
	c.buf = append(c.buf[:0], c.buf[start:]...)
	return len(p), nil
}

// flush emits what is left, a line without its line break.
func (c *lineCutter) flush() {
	if len(c.buf) > 0 {
		c.emit(c.buf, true)
		c.buf = c.buf[:0]
	}
}

var _ io.WriteCloser = (*outputStream)(nil)
