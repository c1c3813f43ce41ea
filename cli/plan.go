package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/lang"
	"github.com/tendhq/tend/plan"
)

func planCmd(io IO) *cobra.Command {
	c := &common{io: io}
	var out string
	var asDocument, detailed bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Gather facts and state from the hosts and show what apply would change",
		Long: `Gather facts and the current state of every resource from the targeted hosts
(one connection and one round trip per host) and print what apply would change.

Exit codes with --detailed-exitcode: 0 no changes, 1 error, 2 changes present.

--json prints JSON lines of typed messages, as every command does;
--json-document prints the plan as one JSON document (docs/json.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.load(true)
			if err != nil {
				return err
			}
			if err := c.checkTargeting(l); err != nil {
				return err
			}
			c.planOnly = true
			pl, err := c.makePlan(cmd, l)
			defer closeAll(pl)
			if err != nil {
				return err
			}
			c.html.planned(pl, c.dir, false)
			switch {
			case io.ui.active():
				io.ui.plan(pl, "plan")
			case asDocument:
				enc := json.NewEncoder(io.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(pl.JSON()); err != nil {
					return err
				}
			default:
				r := &plan.Renderer{W: io.Stdout, Color: c.color()}
				r.Plan(pl)
			}
			if out != "" {
				if err := plan.Save(out, c.inputs(l.cfg), pl); err != nil {
					return fmt.Errorf("saving plan: %w", err)
				}
				switch {
				case io.ui.active():
					io.ui.emit("plan_saved", map[string]any{"path": out})
				case !asDocument:
					fmt.Fprintf(io.Stdout, "Saved the plan to %s; apply exactly it with: tend apply %s\n", out, out)
				}
			}
			switch {
			case pl.HasErrors():
				return &exitError{ExitError}
			case detailed && pl.HasChanges():
				return &exitError{ExitChanges}
			}
			return nil
		},
	}
	c.addConfigFlags(cmd)
	c.addTargetingFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "save the plan to FILE, to apply later with: tend apply FILE")
	addJSONFlag(cmd, io)
	cmd.Flags().BoolVar(&asDocument, "json-document", false, "print the plan as one JSON document (docs/json.md)")
	cmd.MarkFlagsMutuallyExclusive("json", "json-document")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when there are changes (0 none, 1 error)")
	c.addRunOutputs(cmd, true, true)
	c.addHTMLReport(cmd)
	return cmd
}

// makePlan checks the configuration and plans every targeted host.
func (c *common) makePlan(cmd *cobra.Command, l *loaded) (*plan.Plan, error) {
	p := c.planner(l)
	pl, diags := p.Plan(cmd.Context(), l.hosts)
	if diags.HasErrors() {
		c.printDiags(l.files, diags)
		return nil, &exitError{ExitError}
	}
	c.printDiags(l.files, diags)
	pl.Target = c.target
	c.outputs.planned(pl)
	c.facts().savePlan(pl)
	for _, h := range pl.Hosts {
		if de, ok := h.Err.(*plan.DiagError); ok {
			c.printDiags(l.files, de.Diags)
		}
	}
	return pl, nil
}

// checkTargeting refuses --resource and --replace addresses the
// configuration does not declare.
func (c *common) checkTargeting(l *loaded) error {
	if err := plan.CheckAddrs(l.cfg, "--resource", c.resources); err != nil {
		return err
	}
	return plan.CheckAddrs(l.cfg, "--replace", c.replace)
}

// inputs records what a saved plan was made from: the values of
// sensitive variables given with -var are left out, only their names
// kept.
func (c *common) inputs(cfg *lang.Config) plan.Inputs {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	in := plan.Inputs{ConfigDir: abs(c.dir), Target: c.target, Resources: c.resources, Replace: c.replace}
	seen := map[string]bool{}
	for _, kv := range c.vars {
		name, _, _ := strings.Cut(kv, "=")
		if v := cfg.Variables[name]; v != nil && v.Sensitive {
			if !seen[name] {
				seen[name] = true
				in.SensitiveVars = append(in.SensitiveVars, name)
			}
			continue
		}
		in.Vars = append(in.Vars, kv)
	}
	sort.Strings(in.SensitiveVars)
	for _, p := range c.inventories {
		in.Inventories = append(in.Inventories, abs(p))
	}
	for _, p := range c.varFiles {
		in.VarFiles = append(in.VarFiles, abs(p))
	}
	return in
}

// givenAgain reports whether a sensitive variable left out of a saved plan
// has a value again: a -var flag or TEND_VAR_name.
func givenAgain(flags []string, name string) bool {
	for _, kv := range flags {
		if n, _, ok := strings.Cut(kv, "="); ok && n == name {
			return true
		}
	}
	_, ok := os.LookupEnv("TEND_VAR_" + name)
	return ok
}
