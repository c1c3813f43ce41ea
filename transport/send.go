package transport

import (
	"context"
	"io"
)

// FileSender is implemented by transports that can copy a stream of bytes
// to a file on the host outside of any script: SSH opens an sftp channel
// on the connection it already has (no new login). File content too large
// to travel on a script's standard input goes this way; a transport
// without it streams the content on the stdin of the script that writes
// the file instead.
type FileSender interface {
	// StageFile creates a private staging directory on the host and an
	// empty file in it (mode 0600), and returns the file's path. Both
	// belong to the user the transport logs in as. The directory is in
	// dir, named with prefix, when scripts run as that user; when they
	// run as another one (become), it is in the login user's home
	// directory, named with prefix, and a script run as the other user
	// moves the file from there.
	//
	// cleanup removes what is left of the file and its staging
	// directory; the caller calls it once the file has been moved or is
	// no longer wanted (it is nil when err is not). An error wrapping
	// errors.ErrUnsupported means the host cannot take files this way
	// (SSH: no sftp subsystem): the caller uses a script's stdin.
	StageFile(ctx context.Context, dir, prefix string) (path string, cleanup func(), err error)
	// SendFile writes r to the staged file at path. The bytes reach the
	// file in order where the host's server makes requests in the order
	// they arrive (OpenSSH's sftp-server does), so a script on the host
	// may read the file as it grows; it must still check what it read.
	SendFile(ctx context.Context, path string, r io.Reader) error
}
