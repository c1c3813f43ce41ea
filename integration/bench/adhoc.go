package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// adhocTool reports whether tool has a run of the adhoc scenario: one
// command on every host, its output collected.
func adhocTool(tool string) bool {
	switch tool {
	case "tend", "ansible", "floor", "openssh":
		return true
	}
	return false
}

// adhocCommand returns the command line tool runs for the adhoc scenario.
func (b *bench) adhocCommand(ctx context.Context, tool string, e *cellEnv, sshArgs []string) *exec.Cmd {
	n := fmt.Sprint(e.n)
	var cmd *exec.Cmd
	switch tool {
	case "tend":
		cmd = exec.CommandContext(ctx, b.tendBin, "run", "-C", e.tendDir, "--parallel", n, "--no-color", "all", "--", adhocCommand)
	case "floor":
		cmd = exec.CommandContext(ctx, b.self, append([]string{"floor", "-key", b.lab.ClientKeyFile(), "-known-hosts", b.lab.KnownHostsFile(),
			"-command", adhocCommand}, e.addrs...)...)
	case "openssh":
		cmd = exec.CommandContext(ctx, "xargs", append([]string{"-P", n, "-I{}", "ssh"}, append(sshArgs, "{}", adhocCommand)...)...)
		cmd.Stdin = strings.NewReader(strings.Join(e.addrs, "\n") + "\n")
	case "ansible":
		cp, _ := os.MkdirTemp(b.tmp, "cp-")
		cmd = exec.CommandContext(ctx, "ansible", "bench", "-m", "command", "-a", adhocCommand)
		cmd.Dir = e.ansibleDir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(e.ansibleDir, "ansible.cfg"),
			"ANSIBLE_SSH_CONTROL_PATH_DIR="+cp, "ANSIBLE_LOCAL_TEMP="+cp, "HOME="+e.home, "ANSIBLE_NOCOLOR=1")
	default:
		return exec.CommandContext(ctx, "false")
	}
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), "HOME="+e.home, "NO_COLOR=1")
	}
	return cmd
}

// checkAdhoc looks at an adhoc run's output: every host answered, and
// with what uname prints.
func checkAdhoc(tool string, n int, s string) string {
	switch tool {
	case "tend":
		hosts := fmt.Sprintf("%d hosts: %d exit 0 (", n, n)
		if n == 1 {
			hosts = "1 host: 1 exit 0 ("
		}
		if !strings.Contains(s, hosts) || !strings.Contains(s, "Linux ") {
			return "not every host answered: " + lastLines(s, 3)
		}
	case "ansible":
		if c := strings.Count(s, "| CHANGED | rc=0 >>"); c != n {
			return fmt.Sprintf("%d of %d hosts answered: %s", c, n, lastLines(s, 3))
		}
	case "floor", "openssh":
		if c := strings.Count(s, "Linux "); c != n {
			return fmt.Sprintf("%d of %d hosts answered: %s", c, n, lastLines(s, 3))
		}
	}
	return ""
}
