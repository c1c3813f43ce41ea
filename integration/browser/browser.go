// Package browser runs Debian's Chromium headless on a local HTML file:
// the DOM after the page's scripts ran, and a screenshot. The report's
// end-to-end test and its benchmark read pages through it.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Path returns the Chromium binary (Debian's chromium package, which
// integration/scripts/e2e-deps.sh installs).
func Path() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium is not installed (integration/scripts/e2e-deps.sh installs Debian's chromium package)")
}

// run runs Chromium headless with a profile directory of its own (removed
// after), so nothing of the user's profile is read or written.
func run(ctx context.Context, args ...string) ([]byte, time.Duration, error) {
	bin, err := Path()
	if err != nil {
		return nil, 0, err
	}
	profile, err := os.MkdirTemp("", "tend-chromium-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(profile)
	args = append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--user-data-dir=" + profile}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "HOME="+profile)
	// Chromium starts helpers of its own: a process group of its own
	// lets the context's end stop them too, and only them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		return nil, took, fmt.Errorf("chromium %v: %w\n%s", args, err, tail(errb.Bytes()))
	}
	return out.Bytes(), took, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

func fileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: abs}).String(), nil
}

// DumpDOM returns the page's DOM, serialized, once its scripts ran, and
// how long Chromium took, start to exit. A fragment ("host=web1") is
// given to the page as its URL's fragment.
func DumpDOM(ctx context.Context, page, fragment string) (string, time.Duration, error) {
	u, err := fileURL(page)
	if err != nil {
		return "", 0, err
	}
	if fragment != "" {
		u += "#" + url.PathEscape(fragment)
	}
	out, took, err := run(ctx, "--dump-dom", u)
	return string(out), took, err
}

// Screenshot writes a PNG of the page, width × height pixels, to png.
func Screenshot(ctx context.Context, page, png string, width, height int) error {
	u, err := fileURL(page)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(png)
	if err != nil {
		return err
	}
	_, _, err = run(ctx, "--screenshot="+abs, fmt.Sprintf("--window-size=%d,%d", width, height), u)
	return err
}
