package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/inventory"
)

func validateCmd(io IO) *cobra.Command {
	c := &common{io: io}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check configuration and inventory without connecting to any host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.load(true)
			if err != nil {
				return err
			}
			p := c.planner(l)
			if diags := p.Check(l.hosts); diags.HasErrors() {
				c.printDiags(l.files, diags)
				return &exitError{ExitError}
			}
			if io.ui.active() {
				io.ui.emit("validated", map[string]any{"valid": true, "resources": len(l.cfg.Resources), "hosts": len(l.hosts)})
				return nil
			}
			fmt.Fprintf(io.Stdout, "The configuration is valid: %s, %s.\n",
				plural(len(l.cfg.Resources), "resource", "resources"), plural(len(l.hosts), "host", "hosts"))
			return nil
		},
	}
	// validate connects to no host: no --parallel, no host key flags.
	c.addLoadFlags(cmd, true)
	addJSONFlag(cmd, io)
	return cmd
}

func inventoryCmd(io IO) *cobra.Command {
	c := &common{io: io}
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List the hosts a pattern selects, with their groups and vars",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.load(false)
			if err != nil {
				return err
			}
			type hostJSON struct {
				Name      string                     `json:"name"`
				Address   string                     `json:"address"`
				Transport string                     `json:"transport"`
				User      string                     `json:"user,omitempty"`
				Port      int                        `json:"port,omitempty"`
				Groups    []string                   `json:"groups"`
				Vars      map[string]json.RawMessage `json:"vars"`
			}
			var out []hostJSON
			for _, h := range l.hosts {
				hj := hostJSON{Name: h.Name, Address: h.Address, Transport: h.Transport, User: h.User, Port: h.Port, Groups: h.Groups, Vars: map[string]json.RawMessage{}}
				for k, v := range h.Vars {
					if why := inventory.Unrendered(v); why != "" {
						hj.Vars[k], _ = json.Marshal("(not rendered: " + why + ")")
						continue
					}
					if v.ContainsMarked() {
						hj.Vars[k] = json.RawMessage(`"(sensitive)"`)
						continue
					}
					b, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
					if err != nil {
						return err
					}
					hj.Vars[k] = b
				}
				out = append(out, hj)
			}
			if io.ui.active() {
				for _, h := range out {
					io.ui.emit("inventory_host", map[string]any{"host": h})
				}
				return nil
			}
			for _, h := range out {
				fmt.Fprintf(io.Stdout, "%s\t%s\t%s\tgroups=%s", h.Name, h.Transport, h.Address, strings.Join(h.Groups, ","))
				keys := make([]string, 0, len(h.Vars))
				for k := range h.Vars {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(io.Stdout, " %s=%s", k, h.Vars[k])
				}
				fmt.Fprintln(io.Stdout)
			}
			return nil
		},
	}
	// inventory reads no configuration and connects to no host: no -var,
	// no --parallel, no host key flags.
	c.addLoadFlags(cmd, false)
	addJSONFlag(cmd, io)
	return cmd
}

func factsCmd(io IO) *cobra.Command {
	c := &common{io: io}
	ff := &factsFlags{}
	cmd := &cobra.Command{
		Use:   "facts [HOST-PATTERN...]",
		Short: "Gather facts from hosts and print them as JSON, or query the fleet with --where and --select",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				c.target = strings.Join(args, ",")
			}
			l, err := c.load(false)
			if err != nil {
				return err
			}
			if ff.query() {
				return c.runFleetQuery(cmd.Context(), l, ff)
			}
			gathered := c.gatherFacts(cmd.Context(), l.hosts, nil, ff.cached)
			if io.ui.active() {
				failed := 0
				for _, h := range l.hosts {
					g := gathered[h.Name]
					m := map[string]any{"host": h.Name}
					if g.err != nil {
						m["error"] = g.err.Error()
						failed++
					} else {
						m["facts"] = g.facts
						if !g.gathered.IsZero() {
							m["gathered_at"] = g.gathered.UTC()
						}
					}
					io.ui.emit("host_facts", m)
				}
				if failed > 0 {
					return &exitError{ExitError}
				}
				return nil
			}
			failed, err := printFactsJSON(io.Stdout, l.hosts, gathered)
			if err != nil {
				return err
			}
			if failed > 0 {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	c.addLoadFlags(cmd, false)
	c.addConnectFlags(cmd)
	addJSONFlag(cmd, io)
	ff.add(cmd)
	return cmd
}
