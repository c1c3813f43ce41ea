package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
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
			fmt.Fprintf(io.Stdout, "The configuration is valid: %s, %s.\n",
				plural(len(l.cfg.Resources), "resource", "resources"), plural(len(l.hosts), "host", "hosts"))
			return nil
		},
	}
	c.addConfigFlags(cmd)
	return cmd
}

func fmtCmd(io IO) *cobra.Command {
	var dir string
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [FILE...]",
		Short: "Rewrite configuration files in canonical HCL format",
		RunE: func(cmd *cobra.Command, args []string) error {
			files := args
			if len(files) == 0 {
				m, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
				files = m
			}
			sort.Strings(files)
			bad := 0
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if _, diags := hclwrite.ParseConfig(src, f, hcl.Pos{Line: 1, Column: 1}); diags.HasErrors() {
					writeDiags(io.Stderr, map[string]*hcl.File{f: {Bytes: src}}, diags, false)
					return &exitError{ExitError}
				}
				out := hclwrite.Format(src)
				if bytes.Equal(out, src) {
					continue
				}
				bad++
				if check {
					fmt.Fprintln(io.Stdout, f)
					continue
				}
				info, err := os.Stat(f)
				if err != nil {
					return err
				}
				if err := plan.WriteFileAtomic(f, out, info.Mode().Perm()); err != nil {
					return err
				}
				fmt.Fprintln(io.Stdout, f)
			}
			if check && bad > 0 {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "chdir", "C", ".", "configuration directory")
	cmd.Flags().BoolVar(&check, "check", false, "list files that are not formatted and exit 1, changing nothing")
	return cmd
}

func inventoryCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var asJSON bool
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
			if asJSON {
				enc := json.NewEncoder(io.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
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
	c.addConfigFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func factsCmd(io IO) *cobra.Command {
	c := &common{io: io}
	cmd := &cobra.Command{
		Use:   "facts [HOST-PATTERN...]",
		Short: "Gather facts from hosts and print them as JSON",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				c.target = strings.Join(args, ",")
			}
			l, err := c.load(false)
			if err != nil {
				return err
			}
			type result struct {
				Facts *probe.Facts `json:"facts,omitempty"`
				Error string       `json:"error,omitempty"`
			}
			out := map[string]result{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			failed := 0
			connect := c.connector()
			for _, h := range l.hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := result{}
					if t, err := connect(cmd.Context(), h); err != nil {
						r.Error = err.Error()
					} else if res, err := probe.RunOn(cmd.Context(), t, h.Windows(), true, nil); err != nil {
						t.Close()
						r.Error = err.Error()
					} else {
						t.Close()
						f := res.Facts
						r.Facts = &f
						c.facts().save(h.Name, f)
					}
					mu.Lock()
					defer mu.Unlock()
					out[h.Name] = r
					if r.Error != "" {
						failed++
					}
				}()
			}
			wg.Wait()
			enc := json.NewEncoder(io.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			if failed > 0 {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	c.addConfigFlags(cmd)
	return cmd
}
