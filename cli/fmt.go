package cli

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/plan"
)

// fmtOptions are tend fmt's flags.
type fmtOptions struct {
	dir       string
	check     bool
	diff      bool
	recursive bool
}

func fmtCmd(io IO) *cobra.Command {
	var o fmtOptions
	cmd := &cobra.Command{
		Use:   "fmt [FILE|DIR|-]...",
		Short: "Rewrite configuration files in canonical HCL format",
		Long: `Rewrite configuration files in canonical HCL format.

With no argument, formats the *.hcl files of the configuration directory
(-C); a directory argument formats the *.hcl files in it, and with
--recursive those of its subdirectories too (hidden directories such as
.tend and .git are skipped). "-" reads a configuration from standard input
and writes it formatted to standard output.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "-" {
				return o.stdin(io)
			}
			files, err := o.files(args)
			if err != nil {
				return err
			}
			bad := 0
			for _, f := range files {
				changed, err := o.file(io, f)
				if err != nil {
					return err
				}
				if changed {
					bad++
				}
			}
			if o.check && bad > 0 {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.dir, "chdir", "C", ".", "configuration directory")
	cmd.Flags().BoolVar(&o.check, "check", false, "list files that are not formatted and exit 1, changing nothing")
	cmd.Flags().BoolVar(&o.diff, "diff", false, "print the changes formatting makes as a unified diff")
	cmd.Flags().BoolVar(&o.recursive, "recursive", false, "also format the files in subdirectories")
	addJSONFlag(cmd, io)
	return cmd
}

// files lists the files to format, sorted: the arguments (directories
// expanded), or the configuration directory's.
func (o *fmtOptions) files(args []string) ([]string, error) {
	if len(args) == 0 {
		args = []string{o.dir}
	}
	var files []string
	for _, a := range args {
		if a == "-" {
			return nil, fmt.Errorf(`"-" (standard input) cannot be given with other files`)
		}
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, a)
			continue
		}
		if !o.recursive {
			m, _ := filepath.Glob(filepath.Join(a, "*.hcl"))
			files = append(files, m...)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != a && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(p, ".hcl") && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}

// format parses src and returns it formatted; a syntax error is printed
// with its position and makes the command fail.
func (o *fmtOptions) format(io IO, name string, src []byte) ([]byte, error) {
	if _, diags := hclwrite.ParseConfig(src, name, hcl.Pos{Line: 1, Column: 1}); diags.HasErrors() {
		files := map[string]*hcl.File{name: {Bytes: src}}
		if io.ui.active() {
			io.ui.diagnostics(files, diags)
		} else {
			writeDiags(io.Stderr, files, diags, false)
		}
		return nil, &exitError{ExitError}
	}
	return hclwrite.Format(src), nil
}

// file formats one file, reporting whether it was not formatted.
func (o *fmtOptions) file(io IO, f string) (bool, error) {
	src, err := os.ReadFile(f)
	if err != nil {
		return false, err
	}
	out, err := o.format(io, f, src)
	if err != nil {
		return false, err
	}
	changed := !bytes.Equal(out, src)
	if changed && !o.check {
		info, err := os.Stat(f)
		if err != nil {
			return true, err
		}
		if err := plan.WriteFileAtomic(f, out, info.Mode().Perm()); err != nil {
			return true, err
		}
	}
	o.report(io, f, src, out)
	return changed, nil
}

// report tells what formatting f does: with --json a formatted_file
// message for every file; otherwise the name of each file not formatted,
// followed by its diff under --diff.
func (o *fmtOptions) report(io IO, f string, before, after []byte) {
	changed := !bytes.Equal(before, after)
	if io.ui.active() {
		m := map[string]any{"file": f, "formatted": !changed, "written": changed && !o.check && f != "-"}
		if changed && o.diff {
			m["diff"] = fmtDiff(f, before, after)
		}
		io.ui.emit("formatted_file", m)
		return
	}
	if !changed {
		return
	}
	if f != "-" {
		fmt.Fprintln(io.Stdout, f)
	}
	if o.diff {
		fmt.Fprint(io.Stdout, fmtDiff(f, before, after))
	}
}

// stdin formats standard input onto standard output (with --diff, the
// diff instead; with --check or --json, nothing but the exit status and
// the messages).
func (o *fmtOptions) stdin(std IO) error {
	src, err := io.ReadAll(std.Stdin)
	if err != nil {
		return err
	}
	out, err := o.format(std, "<stdin>", src)
	if err != nil {
		return err
	}
	changed := !bytes.Equal(out, src)
	switch {
	case std.ui.active() || o.diff:
		o.report(std, "-", src, out)
	case !o.check:
		if _, err := std.Stdout.Write(out); err != nil {
			return err
		}
	}
	if o.check && changed {
		return &exitError{ExitError}
	}
	return nil
}

// fmtDiff is a unified diff of a file before and after formatting.
func fmtDiff(name string, before, after []byte) string {
	d := difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
		FromFile: "old/" + name, ToFile: "new/" + name, Context: 3,
	}
	s, _ := difflib.GetUnifiedDiffString(d)
	return s
}
