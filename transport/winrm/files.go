package winrm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"

	"github.com/tendhq/tend/transport"
)

// Exit statuses of the file scripts.
const (
	exitNotExist    = 3 // the file, or the target's directory, does not exist
	exitIsDirectory = 4 // Download of a directory
)

// uploadScript writes the script's stdin to path: into a temporary file
// beside it, replaced over the target only once the bootstrap has checked
// the stream's length and SHA-256.
func uploadScript(path string) string {
	return `# tend:upload
$p = ` + Quote(path) + `
$d = [IO.Path]::GetDirectoryName($p)
if (-not $d -or -not [IO.Directory]::Exists($d)) { [Console]::Error.WriteLine('tend: no such directory: ' + $d); exit 3 }
$t = [IO.Path]::Combine($d, '.tend-' + [Guid]::NewGuid().ToString('N') + '.tmp')
$f = [IO.File]::Open($t, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None)
try {
    $null = Copy-TendStdin $f
    $f.Dispose()
    if ([IO.File]::Exists($p)) { [IO.File]::Replace($t, $p, [NullString]::Value) } else { [IO.File]::Move($t, $p) }
} catch {
    $f.Dispose()
    [IO.File]::Delete($t)
    throw
}
`
}

// downloadScript writes path to stdout in base64 lines, then its SHA-256
// on a line of its own: "sha256:HEX".
func downloadScript(path string) string {
	return `# tend:download
$p = ` + Quote(path) + `
if ([IO.Directory]::Exists($p)) { [Console]::Error.WriteLine('tend: is a directory: ' + $p); exit 4 }
if (-not [IO.File]::Exists($p)) { [Console]::Error.WriteLine('tend: no such file: ' + $p); exit 3 }
$f = [IO.File]::Open($p, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
try {
    $h = [Security.Cryptography.SHA256]::Create()
    $b = New-Object byte[] 49152
    $o = [Console]::Out
    while (($n = $f.Read($b, 0, $b.Length)) -gt 0) {
        $null = $h.TransformBlock($b, 0, $n, $null, 0)
        $o.Write([Convert]::ToBase64String($b, 0, $n))
        $o.Write("` + "`" + `n")
    }
    $null = $h.TransformFinalBlock($b, 0, 0)
    $o.Write('sha256:' + ([BitConverter]::ToString($h.Hash) -replace '-', '').ToLowerInvariant() + "` + "`" + `n")
} finally {
    $f.Dispose()
}
`
}

// Upload writes r to path on the host, through a temporary file in the
// same directory that replaces the target only after the content arrived
// whole (its length and SHA-256 are checked on the host). The content
// streams as base64 over the command's stdin, in Sends that fit the
// envelope size, so its size is unlimited. Windows files have no POSIX
// mode: mode is ignored (ACLs are the file resource's business). A
// missing directory is an error wrapping fs.ErrNotExist.
func (t *Transport) Upload(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	status, stderr, err := t.exec(ctx, "upload "+path, uploadScript(path), r, io.Discard)
	if err != nil {
		return err
	}
	return t.fileError("upload", path, status, stderr)
}

// Download copies the file at path on the host to w, checking its
// SHA-256. A missing file is an error wrapping fs.ErrNotExist.
func (t *Transport) Download(ctx context.Context, path string, w io.Writer) error {
	d := &downloadDecoder{w: w, sum: sha256.New()}
	status, stderr, err := t.exec(ctx, "download "+path, downloadScript(path), nil, d)
	if err != nil {
		return err
	}
	if err := t.fileError("download", path, status, stderr); err != nil {
		return err
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("winrm %s: download %s: %w", t.name, path, err)
	}
	return nil
}

func (t *Transport) fileError(op, path string, status int, stderr []byte) error {
	msg := strings.TrimSpace(string(DecodeCLIXML(stderr)))
	switch status {
	case 0:
		return nil
	case exitNotExist:
		return fmt.Errorf("winrm %s: %s %s: %s: %w", t.name, op, path, msg, fs.ErrNotExist)
	case exitIsDirectory:
		return fmt.Errorf("winrm %s: %s %s: is a directory", t.name, op, path)
	}
	return fmt.Errorf("winrm %s: %s %s: %w", t.name, op, path, &transport.ExitError{Status: status, Stderr: []byte(msg)})
}

// downloadDecoder decodes the download script's base64 lines into w as
// they arrive and checks the final "sha256:" line.
type downloadDecoder struct {
	w       io.Writer
	sum     hash.Hash
	line    []byte
	trailer string
}

func (d *downloadDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.line = append(d.line, p...)
			if len(d.line) > 4<<20 {
				return 0, errors.New("download: line too long in the file stream")
			}
			break
		}
		d.line = append(d.line, p[:i]...)
		p = p[i+1:]
		if err := d.decodeLine(bytes.TrimRight(d.line, "\r")); err != nil {
			return 0, err
		}
		d.line = d.line[:0]
	}
	return n, nil
}

func (d *downloadDecoder) decodeLine(line []byte) error {
	if d.trailer != "" {
		return errors.New("download: data after the checksum")
	}
	if s, ok := bytes.CutPrefix(line, []byte("sha256:")); ok {
		d.trailer = string(s)
		return nil
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Decode(buf, line)
	if err != nil {
		return fmt.Errorf("download: the file stream is not base64: %w", err)
	}
	d.sum.Write(buf[:n])
	_, err = d.w.Write(buf[:n])
	return err
}

// finish checks that the stream ended with the right checksum.
func (d *downloadDecoder) finish() error {
	if len(bytes.TrimSpace(d.line)) > 0 {
		return errors.New("the file stream ended in the middle of a line")
	}
	if d.trailer == "" {
		return errors.New("the file stream ended without its checksum")
	}
	if got := hex.EncodeToString(d.sum.Sum(nil)); got != strings.ToLower(d.trailer) {
		return fmt.Errorf("SHA-256 mismatch: the host sent %s, tend received %s", d.trailer, got)
	}
	return nil
}
