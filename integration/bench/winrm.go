package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/transport/winrm/winrmtest"
	"github.com/tendhq/tend/transport/winrm/wsmantest"
)

// The WinRM cell: one Windows host played by the project's WS-Management
// server (transport/winrm/wsmantest: the real protocol, NTLM, and message
// encryption over plain HTTP as a default Windows listener wants), tend
// planning a small configuration against it (`tend plan`: connect,
// authenticate, one shell, one command carrying the probe script, the
// answer parsed, diffed and printed), against pywinrm (Debian's
// python3-winrm, integration/scripts/winrm-deps.sh) running the same
// probe script against the same server: Protocol with NTLM and
// message_encryption='always', one shell, the script as powershell.exe
// -EncodedCommand, its output read, the shell closed. No PowerShell runs:
// the server answers the probe script from a fixture, the same answer to
// both clients. Both are whole processes, interpreter or runtime start
// included; pywinrm's own time inside the interpreter is reported too.

const (
	winrmBenchUser     = "ops"
	winrmBenchPassword = "Bench-WinRM-Pa55!"
)

// winrmBenchConfig is the configuration tend plans: one registry value.
const winrmBenchConfig = `role "baseline" {
  hosts = "os:windows"

  registry_value "rdp_off" {
    hive = "HKLM"
    key  = "SYSTEM\\CurrentControlSet\\Control\\Terminal Server"
    name = "fDenyTSConnections"
    type = "dword"
    data = 1
  }
}
`

// winrmBenchFixture is what the simulated Windows Server 2022 answers.
const winrmBenchFixture = `{
  "facts": {"os_id": "windows", "os_version": "10.0.20348", "os_pretty": "Microsoft Windows Server 2022 Datacenter",
    "kernel": "windows", "arch": "AMD64", "hostname": "WIN-APP01", "cpus": "4", "memory_kb": "8388148", "init": "windows",
    "pkg": "msi", "user": "WIN-APP01\\ops", "admin": "true", "home": "C:\\Users\\ops", "backup_dir": "C:\\ProgramData\\tend\\backup"},
  "resources": [{"match": "$k = $b.OpenSubKey('SYSTEM\\CurrentControlSet\\Control\\Terminal Server')",
    "before": {"present": "true", "kind": "DWord", "data": "0"}, "after": {"present": "true", "kind": "DWord", "data": "0"}}]
}`

// pywinrmBench runs the probe script (argv[2], a file) once with pywinrm
// and prints the seconds spent inside the interpreter after the imports.
const pywinrmBench = `
import base64, hashlib, os, sys, time
try:
    hashlib.new('md4')
except ValueError:
    from cryptography.hazmat.bindings.openssl.binding import Binding
    Binding()
from winrm.protocol import Protocol
t0 = time.perf_counter()
endpoint, path = sys.argv[1:3]
script = open(path, encoding='utf-8').read()
p = Protocol(endpoint=endpoint, transport='ntlm', username=os.environ['WINRM_USER'],
             password=os.environ['WINRM_PASSWORD'], message_encryption='always')
shell = p.open_shell(codepage=65001)
enc = base64.b64encode(script.encode('utf-16-le')).decode('ascii')
cid = p.run_command(shell, 'powershell.exe', ['-NoProfile', '-NonInteractive', '-EncodedCommand', enc])
out, err, rc = p.get_command_output(shell, cid)
p.cleanup_command(shell, cid)
p.close_shell(shell)
if rc != 0 or b'"sections"' not in out:
    sys.exit('probe failed: exit %d: %s' % (rc, err.decode('utf-8', 'replace')))
print('inside %.6f' % (time.perf_counter() - t0))
`

// winrmMain runs the WinRM cell and prints its table.
func winrmMain(args []string) int {
	fs := flag.NewFlagSet("winrm", flag.ContinueOnError)
	runs := fs.Int("runs", 10, "timed runs (each times tend and pywinrm once, in alternating order)")
	tendBin := fs.String("tend", "", "tend binary (default: build ./cmd/tend)")
	python := fs.String("python", "/usr/bin/python3", "the Python with Debian's python3-winrm")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runWinRMCell(*runs, *tendBin, *python, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench winrm:", err)
		return 1
	}
	return 0
}

func runWinRMCell(runs int, tendBin, python string, w io.Writer) error {
	if err := exec.Command(python, "-c", "import winrm, requests_ntlm, cryptography").Run(); err != nil {
		return fmt.Errorf("%s cannot import pywinrm (run integration/scripts/winrm-deps.sh): %v", python, err)
	}
	tmp, err := os.MkdirTemp("", "tend-bench-winrm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if tendBin == "" {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		tendBin = filepath.Join(tmp, "tend")
		cmd := exec.Command("go", "build", "-o", tendBin, "./cmd/tend")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tend: %v\n%s", err, out)
		}
	}
	var fx winrmtest.Fixture
	if err := json.Unmarshal([]byte(winrmBenchFixture), &fx); err != nil {
		return err
	}
	answer := fx.Responder()
	handler := func(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
		io.Copy(io.Discard, stdin)
		a := answer(winrmtest.Script{Text: script})
		io.WriteString(stdout, a.Stdout)
		io.WriteString(stderr, a.Stderr)
		return a.Status
	}
	var mu sync.Mutex
	var probeScript string
	tendPS := winrmtest.PowerShell(func(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
		if winrmtest.IsProbe(script) {
			mu.Lock()
			probeScript = script
			mu.Unlock()
		}
		return handler(ctx, script, stdin, stdout, stderr)
	})
	srv, err := wsmantest.Start(wsmantest.Options{
		Users: map[string]string{winrmBenchUser: winrmBenchPassword},
		Executor: func(ctx context.Context, p *wsmantest.Process) int {
			// pywinrm: powershell.exe -NoProfile -NonInteractive
			// -EncodedCommand SCRIPT; tend: its bootstrap.
			// pywinrm 0.3.0 sends the arguments as one string.
			argv := wsmantest.SplitCommandLine(strings.Join(append([]string{p.Command}, p.Arguments...), " "))
			if len(argv) == 5 && argv[0] == "powershell.exe" && argv[3] == "-EncodedCommand" {
				script, err := wsmantest.DecodeEncodedCommand(argv[4])
				mu.Lock()
				same := script == probeScript
				mu.Unlock()
				if err != nil || !same {
					fmt.Fprintf(p.Stderr, "not the probe script tend sent (%v)\r\n", err)
					return 1
				}
				// The script is on the command line; pywinrm sends no stdin.
				return handler(ctx, script, strings.NewReader(""), p.Stdout, p.Stderr)
			}
			return tendPS(ctx, p)
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	_, port, _ := strings.Cut(srv.Addr, ":")
	dir := filepath.Join(tmp, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	inv := fmt.Sprintf("host \"win1\" {\n  address   = \"127.0.0.1\"\n  port      = %s\n  transport = \"winrm\"\n  winrm {\n    auth     = \"ntlm\"\n    user     = \"WIN-APP01\\\\%s\"\n    password = secret(\"env:TEND_BENCH_WINRM_PASSWORD\")\n  }\n}\n", port, winrmBenchUser)
	for name, content := range map[string]string{"main.hcl": winrmBenchConfig, "inventory.hcl": inv} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "TEND_BENCH_WINRM_PASSWORD="+winrmBenchPassword, "HOME="+tmp, "NO_COLOR=1",
		"WINRM_USER="+winrmBenchUser, "WINRM_PASSWORD="+winrmBenchPassword)
	pyScript := filepath.Join(tmp, "pywinrm_bench.py")
	scriptFile := filepath.Join(tmp, "probe.ps1")
	if err := os.WriteFile(pyScript, []byte(pywinrmBench), 0o644); err != nil {
		return err
	}
	tendRun := func() (time.Duration, time.Duration, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tendBin, "plan", "-C", dir, "-detailed-exitcode", "--no-color")
		cmd.Env = env
		return timed(cmd, func(code int, out string) error {
			if code != 2 || !strings.Contains(out, "1 to change") {
				return fmt.Errorf("tend plan: exit %d: %s", code, lastLines(out, 5))
			}
			return nil
		})
	}
	pyRun := func() (time.Duration, time.Duration, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, pyScript, "http://"+srv.Addr+"/wsman", scriptFile)
		cmd.Env = env
		return timed(cmd, func(code int, out string) error {
			if code != 0 || !strings.HasPrefix(out, "inside ") {
				return fmt.Errorf("pywinrm: exit %d: %s", code, lastLines(out, 5))
			}
			return nil
		})
	}
	// An untimed plan gives the probe script pywinrm sends, and warms
	// both (page cache, Python's bytecode).
	if _, _, _, err := tendRun(); err != nil {
		return err
	}
	mu.Lock()
	probe := probeScript
	mu.Unlock()
	if probe == "" {
		return fmt.Errorf("tend's plan sent no probe script")
	}
	if err := os.WriteFile(scriptFile, []byte(probe), 0o644); err != nil {
		return err
	}
	if _, _, _, err := pyRun(); err != nil {
		return err
	}
	var tw, tc, pw, pc, inside, ratios, insideRatios []float64
	for i := 0; i < runs; i++ {
		order := []string{"tend", "pywinrm"}
		if i%2 == 1 {
			order = []string{"pywinrm", "tend"}
		}
		var tWall, pWall, pIn float64
		for _, tool := range order {
			if tool == "tend" {
				wall, cpu, _, err := tendRun()
				if err != nil {
					return err
				}
				tWall = wall.Seconds()
				tw, tc = append(tw, tWall), append(tc, cpu.Seconds())
				continue
			}
			wall, cpu, out, err := pyRun()
			if err != nil {
				return err
			}
			pWall = wall.Seconds()
			pw, pc = append(pw, pWall), append(pc, cpu.Seconds())
			fmt.Sscanf(out, "inside %f", &pIn)
			inside = append(inside, pIn)
		}
		ratios = append(ratios, tWall/pWall)
		if pIn > 0 {
			insideRatios = append(insideRatios, tWall/pIn)
		}
	}
	st := srv.Stats()
	fmt.Fprintf(w, "| Tool | Median (s) | Min–max (s) | tend ÷ tool | Controller CPU (s) |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| tend plan | %.3f | %s | — | %.3f |\n", median(tw), rangeText(tw), median(tc))
	fmt.Fprintf(w, "| pywinrm, same probe script | %.3f | %s | **%.2f** | %.3f |\n", median(pw), rangeText(pw), median(ratios), median(pc))
	fmt.Fprintf(w, "| pywinrm, its work only (after the interpreter's start and imports) | %.3f | %s | %.2f | — |\n", median(inside), rangeText(inside), median(insideRatios))
	fmt.Fprintf(w, "\n%d runs each (ratios taken run by run); the server decrypted %d requests and refused %d; probe script %d bytes.\n",
		runs, st.Encrypted, st.Refused, len(probe))
	return nil
}

// timed runs cmd and returns its wall time, its CPU (user and system,
// from rusage) and its output, checked by ok.
func timed(cmd *exec.Cmd, ok func(code int, out string) error) (time.Duration, time.Duration, string, error) {
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return 0, 0, "", err
	}
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err := ok(cmd.ProcessState.ExitCode(), buf.String()); err != nil {
		return 0, 0, "", err
	}
	return wall, cpu, buf.String(), nil
}

// rangeText is "min–max" of xs, "—" without a number.
func rangeText(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if math.IsNaN(s[0]) {
		return "—"
	}
	return fmt.Sprintf("%.3f–%.3f", s[0], s[len(s)-1])
}
