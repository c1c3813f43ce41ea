package winrm

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the bootstrap's source
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// How a script reaches PowerShell (see doc.go for the why).
//
// The Command request carries only a fixed command line:
//
//	powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand BOOTSTRAP
//
// where BOOTSTRAP (bootstrap.ps1) never changes, and stdin carries, in
// ASCII lines:
//
//	tend:NONCE:script:LENGTH:SHA256    LENGTH bytes of UTF-8 script, their SHA-256
//	BASE64...                          the script, in base64 lines
//	tend:NONCE:stdin
//	BASE64...                          the caller's Command.Stdin, in base64 lines
//	tend:NONCE:eof:LENGTH:SHA256       its length and SHA-256
//
// then the end of the stream (Send with End="true"). Every byte is ASCII,
// so no code page or console translation on the way can change it, and
// the hashes catch what would. The bootstrap checks the script, prints
// the run marker tend:NONCE:run: on stdout and runs the script; the
// script's helpers (Read-TendStdin, Copy-TendStdin) check the stdin hash
// when they reach its end.

//go:embed bootstrap.ps1
var bootstrapSource string

// bootstrapScript is bootstrap.ps1 without comment lines or indentation,
// as it is encoded.
var bootstrapScript = compactScript(bootstrapSource)

// exitTruncated is the bootstrap's exit status when the script did not
// arrive whole.
const exitTruncated = 125

// truncatedMsg is what the bootstrap prints on stderr then.
const truncatedMsg = "tend-bootstrap: script stream truncated"

// compactScript drops comment lines, blank lines and indentation.
func compactScript(s string) string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// encodeCommand returns a script as PowerShell's -EncodedCommand takes it:
// base64 of UTF-16LE.
func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// CommandLine returns the command line every Run sends, for powershell
// (e.g. "powershell.exe"). It is the same for every script.
func CommandLine(powershell string) string {
	return powershell + " -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + encodeCommand(bootstrapScript)
}

// maxCommandLine is cmd.exe's limit; the bootstrap stays under it even
// though it is started without cmd.exe.
const maxCommandLine = 8191

// checkScript refuses what PowerShell cannot be given: bytes that are
// not UTF-8 (a script is text) and NUL.
func checkScript(script string) error {
	if !utf8.ValidString(script) {
		return errors.New("script is not valid UTF-8")
	}
	if strings.IndexByte(script, 0) >= 0 {
		return errors.New("script contains a NUL byte")
	}
	return nil
}

// framer produces a Run's stdin stream: the script's frame, then the
// caller's stdin in base64 lines, then the trailer. Each Read returns at
// most one line's worth of the caller's data, so a slow producer is sent
// as it comes.
type framer struct {
	nonce   string
	pending []byte // encoded bytes not yet returned
	stdin   io.Reader
	chunk   []byte
	sum     hash.Hash
	n       int64
	done    bool
	err     error // the caller's stdin failed
}

// lineLen is the base64 line length of the frames (a multiple of 4, so
// that every line decodes by itself).
const lineLen = 64 << 10

func newFramer(nonce, script string, stdin io.Reader, chunk int) *framer {
	var b bytes.Buffer
	sum := sha256.Sum256([]byte(script))
	fmt.Fprintf(&b, "tend:%s:script:%d:%s\n", nonce, len(script), hex.EncodeToString(sum[:]))
	enc := base64.StdEncoding.EncodeToString([]byte(script))
	for len(enc) > 0 {
		n := min(lineLen, len(enc))
		b.WriteString(enc[:n])
		b.WriteByte('\n')
		enc = enc[n:]
	}
	fmt.Fprintf(&b, "tend:%s:stdin\n", nonce)
	// A raw chunk encodes to one line that fits in one Send.
	raw := max(3, min(chunk, lineLen)/4*3-3)
	return &framer{nonce: nonce, pending: b.Bytes(), stdin: stdin, chunk: make([]byte, raw), sum: sha256.New()}
}

func (f *framer) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.done {
			return 0, io.EOF
		}
		f.next()
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// next encodes the next piece of the caller's stdin, or the trailer.
func (f *framer) next() {
	if f.stdin != nil {
		n, err := f.stdin.Read(f.chunk)
		if n > 0 {
			f.sum.Write(f.chunk[:n])
			f.n += int64(n)
			line := make([]byte, base64.StdEncoding.EncodedLen(n)+1)
			base64.StdEncoding.Encode(line, f.chunk[:n])
			line[len(line)-1] = '\n'
			f.pending = line
		}
		switch {
		case err == io.EOF:
			f.stdin = nil
		case err != nil:
			f.err = err
			f.stdin = nil
		}
		if n > 0 || f.stdin != nil {
			return
		}
	}
	if f.err != nil {
		// A trailer that cannot match: the script's stdin reader fails
		// instead of taking a truncated stream for the whole.
		f.pending = []byte("tend:" + f.nonce + ":eof:-1:stdin-failed\n")
	} else {
		f.pending = []byte("tend:" + f.nonce + ":eof:" + strconv.FormatInt(f.n, 10) + ":" + hex.EncodeToString(f.sum.Sum(nil)) + "\n")
	}
	f.done = true
}
