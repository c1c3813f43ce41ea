package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Large file content: a `source` file larger than streamMin is never read
// into the controller's memory. The plan takes its SHA-256 reading it as
// a stream (once per run, SourceFiles) and compares it with the host's;
// an apply streams it to the host, over sftp on the host's SSH connection
// when the transport is a transport.FileSender (content from `content` or
// `template` larger than streamMin goes the same way), else on the stdin
// of the script that writes it. Either way the host checks the SHA-256 of
// what arrived before it renames it into place.

// streamMin is the size above which file content is streamed to the host
// rather than carried by the script that writes it, and a `source` file
// is not read into memory.
const streamMin = 1 << 20

// SourceFiles is implemented by an Env that can describe a controller
// file without reading it into memory: file's `source` uses it for files
// larger than streamMin.
type SourceFiles interface {
	// StatSource returns the absolute path and size of the controller
	// file at path (relative to the configuration directory).
	StatSource(path string) (full string, size int64, err error)
	// SourceSHA256 returns the hex SHA-256 of the file at full and the
	// number of bytes it read, reading it as a stream (at most once per
	// run for one file).
	SourceSHA256(full string) (sum string, size int64, err error)
}

// largeSource returns the content of a `source` file larger than
// streamMin, by digest and path, or nil when the file is small enough to
// read (or env cannot describe it without reading it).
func largeSource(env Env, p string) (*Content, error) {
	sf, ok := env.(SourceFiles)
	if !ok {
		return nil, nil
	}
	full, size, err := sf.StatSource(p)
	if err != nil {
		return nil, err
	}
	if size <= streamMin {
		return nil, nil
	}
	sum, n, err := sf.SourceSHA256(full)
	if err != nil {
		return nil, err
	}
	return &Content{SHA256: sum, Size: n, Source: full}, nil
}

// streamed reports whether content is written by applyStream.
func streamed(c *Content) bool {
	return c != nil && (c.Source != "" || len(c.Data) > streamMin)
}

// openContent returns a reader of the content's bytes: its source file,
// or Data.
func openContent(c *Content) (io.ReadCloser, error) {
	if c.Source == "" {
		return io.NopCloser(bytes.NewReader(c.Data)), nil
	}
	f, err := os.Open(c.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return f, nil
}

// applyStream writes a file's new streamed content. A first script
// checks that the file can be written, so nothing is sent for a change
// that cannot be made. The content then goes to a staging file on the
// host (transport.FileSender), and a second script backs up the old file,
// moves the staged one next to it, gives it its ownership then its mode
// (chown clears set-id bits), checks its SHA-256 and renames it into
// place. A transport that cannot send files gets the content on the
// second script's stdin instead.
func applyStream(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	p := changePath(before, after)
	action := ChangeAction(before, after)
	if err := RunChange(ctx, h, action, p, PathCheckFunc+PathCheck(p, "file", "exit 1"), nil); err != nil {
		return nil, err
	}
	r, err := openContent(after.Content)
	if err != nil {
		return nil, &ChangeError{Action: action, Path: p, Cause: err.Error()}
	}
	defer r.Close()
	staged := ""
	if fs, ok := h.T.(transport.FileSender); ok {
		s, cleanup, err := fs.SendFile(ctx, path.Dir(p), h.TempPrefix(), r)
		switch {
		case err == nil:
			defer cleanup()
			staged = s
		case errors.Is(err, errors.ErrUnsupported):
			// Through the script's stdin, from the start.
			r.Close()
			if r, err = openContent(after.Content); err != nil {
				return nil, &ChangeError{Action: action, Path: p, Cause: err.Error()}
			}
			defer r.Close()
		default:
			return nil, err
		}
	}
	undo := Undo{}
	var sb strings.Builder
	sb.WriteString("set -e\numask 077\n")
	if before.Present {
		undo["backup"] = h.NextBackup(p)
		sb.WriteString(backupScript(p, undo["backup"]))
	}
	fmt.Fprintf(&sb, "t=$(mktemp %s)\n", shell.Quote(path.Dir(p)+"/"+h.TempPrefix()+"XXXXXX"))
	sb.WriteString("trap 'rm -f \"$t\"' EXIT\n")
	var stdin io.Reader
	if staged != "" {
		// A rename when the staging directory is next to p; a copy from
		// the login user's home (become) when that is another file system.
		fmt.Fprintf(&sb, "mv -f -- %s \"$t\"\n", shell.Quote(staged))
	} else {
		sb.WriteString("cat > \"$t\"\n")
		stdin = r
	}
	owner, group := after.Str("owner"), after.Str("group")
	if before.Present {
		// A rewritten file keeps its ownership unless told otherwise.
		if owner == "" {
			owner = before.Str("uid")
		}
		if group == "" {
			group = before.Str("gid")
		}
	}
	switch {
	case owner != "" || group != "":
		if owner != "" {
			fmt.Fprintf(&sb, "chown -- %s \"$t\"\n", shell.Quote(owner))
		}
		if group != "" {
			fmt.Fprintf(&sb, "chgrp -- %s \"$t\"\n", shell.Quote(group))
		}
	case staged != "":
		// A new file belongs to the user the script runs as, as one
		// written by it would; the staged file is the login user's.
		sb.WriteString("{ [ -O \"$t\" ] && [ -G \"$t\" ]; } || chown -- \"$(id -u):$(id -g)\" \"$t\"\n")
	}
	fmt.Fprintf(&sb, "chmod %s \"$t\"\n", newMode(before, after))
	want := after.Content.SHA256
	// openssl's SHA-256 uses the CPU's SHA instructions: several times
	// faster than sha256sum's on a large file, where the host has it.
	// Anything but a digest from it, and sha256sum answers.
	sb.WriteString("h=\nif command -v openssl >/dev/null 2>&1; then h=$(openssl dgst -sha256 -r < \"$t\" 2>/dev/null) || h=; h=${h%% *}; fi\n")
	sb.WriteString("[ ${#h} = 64 ] || { h=$(sha256sum < \"$t\"); h=${h%% *}; }\n")
	fmt.Fprintf(&sb, "if [ \"$h\" != %s ]; then %s; exit 1; fi\n",
		shell.Quote(want), CauseLine(shell.Quote("the content arrived damaged: its SHA-256 on the host is ")+"\"$h\""+shell.Quote(", not "+want)))
	sb.WriteString(notDirScript(p, "exit 1"))
	fmt.Fprintf(&sb, "mv -f \"$t\" %s\ntrap - EXIT\n", shell.Quote(p))
	res, err := h.T.Run(ctx, transport.Command{Script: sb.String(), Stdin: stdin})
	if err != nil {
		return undo, err
	}
	if res.ExitStatus != 0 {
		return undo, ScriptError(action, p, res)
	}
	return undo, nil
}

// powerShellStdin is RunPowerShell with the stdin a reader streams.
func powerShellStdin(ctx context.Context, h *Host, script string, stdin io.Reader) ([]byte, error) {
	return transport.Output(ctx, h.T, transport.Command{Script: PowerShellPrelude + script, Stdin: stdin})
}
