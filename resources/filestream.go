package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
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
// that cannot be made. Where the transport sends files
// (transport.FileSender), the content goes to a staging file on the host
// while the change script, run at the same time, backs up the old file
// and hashes the staging file as it grows (commitScript); once all is
// sent the script checks the size and SHA-256, moves the file next to
// the target, gives it its ownership then its mode (chown clears set-id
// bits) and renames it into place. A transport that cannot send files
// gets the content on the change script's stdin instead, checked after.
func applyStream(ctx context.Context, h *Host, before, after *State) (Undo, error) {
	p := changePath(before, after)
	action := ChangeAction(before, after)
	after.Content.Installed = ""
	if err := RunChange(ctx, h, action, p, PathCheckFunc+PathCheck(p, "file", "exit 1"), nil); err != nil {
		return nil, err
	}
	r, err := openContent(after.Content)
	if err != nil {
		return nil, &ChangeError{Action: action, Path: p, Cause: err.Error()}
	}
	defer r.Close()
	if fs, ok := h.T.(transport.FileSender); ok {
		staged, cleanup, err := fs.StageFile(ctx, path.Dir(p), h.TempPrefix())
		switch {
		case err == nil:
			defer cleanup()
			return sendAndCommit(ctx, h, fs, staged, r, before, after)
		case !errors.Is(err, errors.ErrUnsupported):
			return nil, err
		}
	}
	undo, script := commitScript(h, before, after, "")
	res, err := h.T.Run(ctx, transport.Command{Script: script, Stdin: r})
	if err != nil {
		return undo, err
	}
	if res.ExitStatus != 0 {
		return undo, ScriptError(action, p, res)
	}
	after.Content.Installed = installedProof(res.Stdout)
	return undo, nil
}

// sendAndCommit sends r to the staged file while the change script runs:
// the script hashes what arrives and waits, on its stdin, for the word
// that all was sent. A script that ends first (a failed backup) stops
// the transfer; a transfer that fails stops the script.
func sendAndCommit(ctx context.Context, h *Host, fs transport.FileSender, staged string, r io.Reader, before, after *State) (Undo, error) {
	p := changePath(before, after)
	undo, script := commitScript(h, before, after, staged)
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	pr, pw := io.Pipe()
	type outcome struct {
		res *transport.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := h.T.Run(runCtx, transport.Command{Script: script, Stdin: pr})
		pr.Close()
		done <- outcome{res, err}
		cancelSend()
	}()
	sendErr := fs.SendFile(sendCtx, staged, r)
	if sendErr == nil {
		io.WriteString(pw, "sent\n") // fails only if the script ended: its result says why
		pw.Close()
	} else {
		pw.CloseWithError(sendErr)
	}
	var o outcome
	select {
	case o = <-done:
	default:
		if sendErr != nil {
			cancelRun()
			<-done
			return undo, sendErr
		}
		o = <-done
	}
	if o.err != nil {
		return undo, o.err
	}
	if o.res.ExitStatus != 0 {
		return undo, ScriptError(ChangeAction(before, after), p, o.res)
	}
	if sendErr != nil {
		return undo, sendErr
	}
	after.Content.Installed = installedProof(o.res.Stdout)
	return undo, nil
}

// hashCmd is a command printing the SHA-256 of its stdin first on its
// line: openssl's, which uses the CPU's SHA instructions (several times
// faster than sha256sum's on a large file), where the host has it.
const hashCmd = "{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }"

// commitScript returns the change script writing after's streamed
// content to p and its undo data: backup, private work directory next to
// p, the content (from staged, a file sent to the host, hashed as it
// arrives; or from stdin), ownership then mode, SHA-256 check, rename.
func commitScript(h *Host, before, after *State, staged string) (Undo, string) {
	p := changePath(before, after)
	want := after.Content.SHA256
	undo := Undo{}
	var sb strings.Builder
	sb.WriteString("set -e\numask 077\n")
	sb.WriteString(FileFuncs)
	if before.Present {
		undo["backup"] = h.NextBackup(p)
		sb.WriteString(BackupScript(p, undo["backup"], "exit 1"))
	}
	// The values the checks compare with: the digest, and the size of a
	// staged file.
	s := shell.NewScript().Set("_tw", want).Line("sp=")
	s.Capture("w", shell.Cmd("mktemp", "-d").Arg(path.Dir(p)+"/"+h.TempPrefix()+"XXXXXX"))
	if staged != "" {
		s.Set("_tq", staged).Set("_tz", strconv.FormatInt(after.Content.Size, 10))
	}
	sb.WriteString(s.String())
	sb.WriteString("trap 'rm -rf \"$w\"; [ -z \"$sp\" ] || kill \"$sp\" 2>/dev/null' EXIT\nt=$w/file\nh=\n")
	if staged != "" {
		// Hash the staged file as it grows (sftp writes it in order), in
		// the background, while the controller sends it. tail follows it
		// until the sleep it watches (--pid) ends, then reads what is
		// left and exits; the sleep is ended once all was sent.
		sb.WriteString("sleep 2147483647 & sp=$!\n")
		sb.WriteString(`tail -c +1 -s 0.1 -f --pid="$sp" -- "$_tq" 2>/dev/null | ` + hashCmd + ` > "$w/h" & hp=$!` + "\n")
		sb.WriteString("read -r _s || exit 1\n[ \"$_s\" = sent ] || exit 1\n")
		sb.WriteString(`_n=$(stat -c %s -- "$_tq")` + "\n" +
			`if [ "$_n" != "$_tz" ]; then ` + CauseLine(`"the content arrived with $_n bytes, not $_tz"`) + "; exit 1; fi\n")
		sb.WriteString("kill \"$sp\"\nsp=\nwait \"$hp\" || :\n")
		sb.WriteString("h=$(cat \"$w/h\")\nh=${h%% *}\n")
		// A rename when the staging directory is next to p; a copy from
		// the login user's home (become) on another file system, whose
		// copy is hashed again.
		sb.WriteString(`[ "$(stat -c %d -- "$_tq")" = "$(stat -c %d -- "$w")" ] || h=` + "\n")
		sb.WriteString(`mv -f -- "$_tq" "$t"` + "\n")
	} else {
		sb.WriteString("cat > \"$t\"\n")
	}
	// What the follower read is checked; when it is not the content (a
	// server that wrote out of order, a follower cut short) or there was
	// none, the file itself is hashed: that answer is final. Anything but
	// a digest from openssl, and sha256sum answers.
	sb.WriteString(`if [ "$h" != "$_tw" ]; then` + "\n" + `  h=$(` + hashCmd + ` < "$t" 2>/dev/null) || h=; h=${h%% *}` + "\n")
	sb.WriteString("  [ ${#h} = 64 ] || { h=$(sha256sum < \"$t\"); h=${h%% *}; }\nfi\n")
	sb.WriteString(`if [ "$h" != "$_tw" ]; then ` + CauseLine(`"the content arrived damaged: its SHA-256 on the host is $h, not $_tw"`) + "; exit 1; fi\n")
	// Then the shared end of an atomic write: ownership, the replaced
	// file's ACL, extended attributes and SELinux context, mode, flush,
	// rename.
	in := Install{Temp: "t", Path: p, Owner: after.Str("owner"), Group: after.Str("group"), Mode: newMode(before, after), Meta: true, Fail: "exit 1"}
	if before.Present {
		// A rewritten file keeps its ownership unless told otherwise.
		in.KeepUID, in.KeepGID = before.Str("uid"), before.Str("gid")
		if in.Owner == "" && in.Group != "" {
			in.Owner = in.KeepUID
		}
		if in.Group == "" && in.Owner != "" {
			in.Group = in.KeepGID
		}
	} else if staged != "" && in.Owner == "" && in.Group == "" {
		// A new file belongs to the user the script runs as, as one
		// written by it would; the staged file is the login user's.
		sb.WriteString("{ [ -O \"$t\" ] && [ -G \"$t\" ]; } || chown -- \"$(id -u):$(id -g)\" \"$t\"\n")
	}
	// The file's identity before and after the rename: the same inode,
	// size and modification time, and the change reports its identity
	// with the change time (installedProof).
	sb.WriteString(`_tid=$(stat -c '` + idFormat[:len(idFormat)-3] + `' -- "$t" 2>/dev/null) || _tid=` + "\n")
	sb.WriteString(in.Script())
	sb.WriteString(shell.NewScript().Set("_tp", p).String())
	sb.WriteString(`_tpi=$(stat -c '` + idFormat + `' -- "$_tp" 2>/dev/null) || _tpi=` + "\n" +
		`case $_tpi in "$_tid "?*) [ -z "$_tid" ] || printf '\037installed=%s\n' "$_tpi" ;; esac` + "\n")
	return undo, sb.String()
}

// idFormat is the stat format of a file's identity: device, inode, size,
// modification and change times (to the nanosecond where the file system
// keeps them). Its last field is the change time.
const idFormat = "%d %i %s %y %z"

// installedProof returns the identity a change script reported for the
// file it wrote (the line "\037installed=..." of its output), or "" when
// it reported none or one that cannot prove the file unchanged: a change
// time without a fraction of a second comes from a file system that may
// not see a write made within the same second.
func installedProof(stdout []byte) string {
	for _, line := range strings.Split(string(stdout), "\n") {
		v, ok := strings.CutPrefix(line, "\037installed=")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		// device inode size, then date time zone twice.
		if len(f) != 9 {
			return ""
		}
		_, frac, ok := strings.Cut(f[7], ".")
		if !ok || strings.Trim(frac, "0") == "" {
			return ""
		}
		return v
	}
	return ""
}

// installedID is the identity of the file the change to want wrote
// (Content.Installed), or "".
func installedID(want *State) string {
	if want == nil || want.Content == nil {
		return ""
	}
	return want.Content.Installed
}

// powerShellStdin is RunPowerShell with the stdin a reader streams.
func powerShellStdin(ctx context.Context, h *Host, script string, stdin io.Reader) ([]byte, error) {
	return transport.Output(ctx, h.T, transport.Command{Script: PowerShellPrelude + script, Stdin: stdin})
}
