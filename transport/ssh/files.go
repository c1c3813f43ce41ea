package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// exitNotExist is the status the Upload and Download shell scripts use for
// a missing file or directory, reported as fs.ErrNotExist.
const exitNotExist = 66

// errNoPosixRename means the server's sftp cannot replace a file
// atomically, so uploads go through the shell instead.
var errNoPosixRename = errors.New("sftp server lacks posix-rename@openssh.com")

// sftpClient returns the transport's sftp client, opening it on first use.
// A nil client with a nil error means sftp is not available on this host
// and the caller should stream through the shell.
func (t *Transport) sftpClient() (*sftp.Client, error) {
	t.sftpMu.Lock()
	defer t.sftpMu.Unlock()
	select {
	case <-t.done:
		return nil, errClosed
	default:
	}
	if t.sftp != nil {
		return t.sftp, nil
	}
	if t.sftpErr != nil {
		return nil, nil
	}
	c, err := sftp.NewClient(t.client, sftp.UseConcurrentWrites(true))
	if err != nil {
		if lost := t.connErr(nil); lost != nil {
			return nil, lost
		}
		// The subsystem is refused (no sftp-server): remember, use the shell.
		t.sftpErr = err
		fmt.Fprintf(t.warn, "tend: %s: sftp unavailable (%v); transferring files through the shell\n", t.name, err)
		return nil, nil
	}
	t.sftpOpened.Add(1)
	if _, ok := c.HasExtension("posix-rename@openssh.com"); !ok {
		c.Close()
		t.sftpErr = errNoPosixRename
		return nil, nil
	}
	t.sftp = c
	return c, nil
}

// Upload writes r to p on the host with mode, atomically: the data goes to
// a temporary file next to p, which is renamed over p once complete, so
// readers see the old file or the new one, never a part. Without become it
// uses sftp on the same connection; with become (sftp would write as the
// login user) it streams through `sudo ... sh` instead.
func (t *Transport) Upload(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	fail := func(err error) error { return fmt.Errorf("ssh %s: upload %s: %w", t.name, p, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return fail(errors.New("not a file path"))
	}
	if r == nil {
		r = strings.NewReader("")
	}
	if t.become == nil {
		c, err := t.sftpClient()
		if err != nil {
			return fail(err)
		}
		if c != nil {
			if err := uploadSFTP(ctx, c, p, r, mode); err != nil {
				return fail(t.connErr(err))
			}
			return nil
		}
	}
	return t.uploadShell(ctx, p, r, mode)
}

func tempName(p string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+".tend-"+transport.NewNonce()[:12]+".tmp")
}

func uploadSFTP(ctx context.Context, c *sftp.Client, p string, r io.Reader, mode fs.FileMode) (err error) {
	tmp := tempName(p)
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			c.Remove(tmp)
		}
	}()
	// Owner-only until complete: the content may be a secret and the
	// server's umask is not ours to trust.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.ReadFromWithConcurrency(ctxReader{ctx, r}, 0); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// After the writes: writing clears setuid bits on some systems.
	if err := c.Chmod(tmp, mode); err != nil {
		return err
	}
	return c.PosixRename(tmp, p)
}

func (t *Transport) uploadShell(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	script := strings.Join([]string{
		"set -e",
		"umask 077",
		"d=" + shell.Quote(path.Dir(p)),
		"f=" + shell.Quote(p),
		"t=" + shell.Quote(tempName(p)),
		`if [ ! -d "$d" ]; then printf 'no such directory: %s\n' "$d" >&2; exit ` + fmt.Sprint(exitNotExist) + `; fi`,
		`if [ -d "$f" ]; then printf 'is a directory: %s\n' "$f" >&2; exit 1; fi`,
		`trap 'rm -f -- "$t"' EXIT`,
		`cat > "$t"`,
		"chmod " + octalMode(mode) + ` "$t"`,
		`mv -f -- "$t" "$f"`,
		`trap - EXIT`,
	}, "\n")
	status, stderr, err := t.run(ctx, "upload "+p, script, ctxReader{ctx, r}, io.Discard)
	if err != nil {
		return err
	}
	return t.fileStatus("upload", p, status, stderr)
}

// Download copies the file at p on the host to w: through sftp without
// become, through `sudo ... cat` with it. A missing file is an error
// wrapping fs.ErrNotExist.
func (t *Transport) Download(ctx context.Context, p string, w io.Writer) error {
	fail := func(err error) error { return fmt.Errorf("ssh %s: download %s: %w", t.name, p, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if t.become == nil {
		c, err := t.sftpClient()
		if err != nil {
			return fail(err)
		}
		if c != nil {
			f, err := c.Open(p)
			if err != nil {
				return fail(t.connErr(err))
			}
			defer f.Close()
			if _, err := f.WriteTo(ctxWriter{ctx, w}); err != nil {
				return fail(t.connErr(err))
			}
			return nil
		}
	}
	script := "f=" + shell.Quote(p) + "\n" +
		`if [ ! -e "$f" ]; then printf 'no such file: %s\n' "$f" >&2; exit ` + fmt.Sprint(exitNotExist) + "; fi\n" +
		`exec cat -- "$f"`
	status, stderr, err := t.run(ctx, "download "+p, script, nil, ctxWriter{ctx, w})
	if err != nil {
		return err
	}
	return t.fileStatus("download", p, status, stderr)
}

func (t *Transport) fileStatus(op, p string, status int, stderr []byte) error {
	switch status {
	case 0:
		return nil
	case exitNotExist:
		return fmt.Errorf("ssh %s: %s %s: %w", t.name, op, p, fs.ErrNotExist)
	}
	return fmt.Errorf("ssh %s: %s %s: %w", t.name, op, p, &transport.ExitError{Status: status, Stderr: stderr})
}

// octalMode renders mode for chmod, special bits included.
func octalMode(mode fs.FileMode) string {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", m)
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxWriter stops a copy when ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
