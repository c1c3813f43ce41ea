package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/backend"
	"github.com/tendhq/tend/journal"
	"github.com/tendhq/tend/lang"
)

// backends holds the backend connections a command line opened, closed
// when it ends.
type backends struct {
	mu   sync.Mutex
	open []*backend.Postgres
}

func (b *backends) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.open {
		p.Close()
	}
	b.open = nil
}

// backendSpec is where runs are stored: --backend, else TEND_BACKEND,
// else the backend block of the configuration in dir, else the
// configuration directory's files. It returns "" for files.
func backendSpec(cmd *cobra.Command, dir string) (string, string, error) {
	spec, from := "", ""
	if f := cmd.Flags().Lookup("backend"); f != nil && f.Changed {
		spec, from = f.Value.String(), "--backend"
	} else if v, ok := os.LookupEnv("TEND_BACKEND"); ok {
		spec, from = v, "TEND_BACKEND"
	} else {
		url, diags := lang.ReadBackend(dir)
		if diags.HasErrors() {
			return "", "", diags
		}
		spec, from = url, "the backend block"
	}
	switch {
	case spec == "" || spec == "files":
		return "", from, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return spec, from, nil
	}
	return "", from, fmt.Errorf("%s: %q is not a backend: give files, or a postgres:// URL", from, spec)
}

// connectBackend opens the PostgreSQL backend spec names; check makes a
// schema at another version an error.
func (io IO) connectBackend(ctx context.Context, spec string, check bool) (*backend.Postgres, error) {
	pg, err := backend.Connect(ctx, spec, check)
	if err != nil {
		return nil, err
	}
	io.backends.mu.Lock()
	io.backends.open = append(io.backends.open, pg)
	io.backends.mu.Unlock()
	return pg, nil
}

// runStore returns where the command's runs are journaled: the
// configuration directory's files, or the backend (see backendSpec).
func (c *common) runStore(cmd *cobra.Command) (journal.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	spec, _, err := backendSpec(cmd, c.dir)
	if err != nil {
		return nil, err
	}
	if spec == "" {
		c.store = journal.Files(c.dir)
		return c.store, nil
	}
	pg, err := c.io.connectBackend(cmd.Context(), spec, true)
	if err != nil {
		return nil, err
	}
	c.store, c.pg = pg, pg
	return c.store, nil
}

// reserveHosts takes the backend's leases of hosts for the run the
// command is about to start (run's ID, or a new one the run will get;
// with files there are none: the lock on each host is the only one).
// Another live run holding any of them fails the command, naming each
// host and its holder, before any host is connected to; with
// --lock-timeout it waits that long for them. The caller releases them
// with releaseHosts (closing the run's journal releases them too).
func (c *common) reserveHosts(cmd *cobra.Command, runID string, hosts []string) error {
	if _, err := c.runStore(cmd); err != nil || c.pg == nil || len(hosts) == 0 {
		return err
	}
	if runID == "" {
		runID = c.outputs.newRunID(time.Now())
		c.runID = runID
	}
	holder := backend.Lease{RunID: runID, User: currentUser(), Controller: controllerName(), PID: os.Getpid()}
	ctx := cmd.Context()
	deadline := time.Now().Add(c.lockTimeout)
	for {
		hold, conflicts, err := c.pg.HoldHosts(ctx, holder, hosts)
		if err != nil {
			return err
		}
		if len(conflicts) == 0 {
			c.hold = hold
			return nil
		}
		if c.lockTimeout <= 0 || time.Now().After(deadline) {
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s held by another run (%s); nothing was changed:", plural(len(conflicts), "host is", "hosts are"), c.pg.Where())
			for _, l := range conflicts {
				fmt.Fprintf(&sb, "\n  %s", l)
			}
			if c.lockTimeout > 0 {
				fmt.Fprintf(&sb, "\nstill held after waiting %s (--lock-timeout)", c.lockTimeout)
			} else {
				sb.WriteString("\nwait for that run to end, or pass --lock-timeout to wait for it")
			}
			return fmt.Errorf("%s", sb.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// releaseHosts drops the leases reserveHosts took.
func (c *common) releaseHosts() {
	if c.hold != nil {
		_ = c.hold.Release()
		c.hold = nil
	}
}

// hostNames are the names of the loaded hosts.
func (l *loaded) hostNames() []string {
	var out []string
	for _, h := range l.hosts {
		out = append(out, h.Name)
	}
	return out
}
