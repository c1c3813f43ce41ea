package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"

	"github.com/tendhq/tend/transport"
)

var _ transport.FileSender = (*Transport)(nil)

// ErrNoSFTP is what StageFile returns (wrapped) when the host has no sftp
// subsystem: the caller streams the file through a script instead.
// It wraps errors.ErrUnsupported.
var ErrNoSFTP = fmt.Errorf("the server offers no sftp subsystem: %w", errors.ErrUnsupported)

// What SendFile holds in memory is bounded by construction, whatever the
// file's size and however fast the host takes it: sftp reads the file
// into one buffer of sendPacket bytes, reused for every write request
// (the SSH channel copies it into its own reused packet buffer before
// the next read), and at most sendInFlight requests await their answer,
// each holding only its id and a channel. The bytes on the wire are
// bounded by the channel's window.
const (
	sendPacket   = 32 << 10 // the largest write every sftp server takes
	sendInFlight = 64
)

// sftpClient returns the transport's sftp client, opening it on first use:
// a subsystem channel on the connection, never a new login. The error
// wraps ErrNoSFTP when the server refuses the subsystem (remembered, so
// later calls do not ask again).
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
		return nil, t.sftpErr
	}
	c, err := sftp.NewClient(t.client, sftp.UseConcurrentWrites(true),
		sftp.MaxPacketChecked(sendPacket), sftp.MaxConcurrentRequestsPerFile(sendInFlight))
	if err != nil {
		if lost := t.connErr(nil); lost != nil {
			return nil, lost
		}
		t.sftpErr = fmt.Errorf("%w: %v", ErrNoSFTP, err)
		fmt.Fprintf(t.warn, "tend: %s: sftp unavailable (%v); large files stream through the shell\n", t.name, err)
		return nil, t.sftpErr
	}
	t.sftpOpened.Add(1)
	t.sftp = c
	return c, nil
}

// StageFile implements transport.FileSender over sftp on the
// transport's connection. Without become, the staging directory is made
// in dir, so the script renames the file into place on the same file
// system; with become, sftp (which runs as the login user) cannot write
// there, so the directory is made in the login user's home and the script
// moves the file from there.
//
// The staging directory is made mode 0700 before the file is created in
// it, so no other user can open the file whatever the server's umask.
func (t *Transport) StageFile(ctx context.Context, dir, prefix string) (string, func(), error) {
	fail := func(err error) (string, func(), error) {
		return "", nil, fmt.Errorf("ssh %s: stage a file for %s: %w", t.name, dir, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if t.become != nil && t.become.user != "" && t.become.user != "root" {
		// Staged in the login user's home, the file could not be read
		// by another unprivileged user: the caller sends it on the
		// script's stdin instead.
		return fail(fmt.Errorf("become_user %s cannot read what sftp stages: %w", t.become.user, errors.ErrUnsupported))
	}
	c, err := t.sftpClient()
	if err != nil {
		return fail(err)
	}
	base := dir
	if t.become != nil {
		if base, err = c.Getwd(); err != nil {
			return fail(t.connErr(err))
		}
	}
	stage := path.Join(base, prefix+"stage."+transport.NewNonce()[:12])
	if err := c.Mkdir(stage); err != nil {
		return fail(t.connErr(err))
	}
	p := path.Join(stage, "data")
	cleanup := func() {
		// What the caller's script did not move: the file, then the
		// directory.
		c.Remove(p)
		c.RemoveDirectory(stage)
	}
	if err := c.Chmod(stage, 0o700); err != nil {
		cleanup()
		return fail(t.connErr(err))
	}
	f, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err == nil {
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		cleanup()
		return fail(t.connErr(err))
	}
	return p, cleanup, nil
}

// SendFile implements transport.FileSender: the writes are sftp requests
// sent in order, several in flight, and OpenSSH's sftp-server makes them
// in the order they arrive, so the file grows at its end.
func (t *Transport) SendFile(ctx context.Context, p string, r io.Reader) error {
	fail := func(err error) error {
		return fmt.Errorf("ssh %s: send file %s: %w", t.name, p, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	c, err := t.sftpClient()
	if err != nil {
		return fail(err)
	}
	f, err := c.OpenFile(p, os.O_WRONLY)
	if err != nil {
		return fail(t.connErr(err))
	}
	_, err = f.ReadFromWithConcurrency(ctxReader{ctx, r}, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(t.connErr(err))
	}
	return nil
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
