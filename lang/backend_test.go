package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadBackend(t *testing.T) {
	t.Setenv("TEND_TEST_PG", "postgres://from-env@/tend")
	for name, tc := range map[string]struct {
		src, want, err string
	}{
		"none":       {src: "variable \"x\" {}\n", want: ""},
		"literal":    {src: "backend \"postgres\" {\n  url = \"postgres://tend@db/tend\"\n}\n", want: "postgres://tend@db/tend"},
		"secret":     {src: "backend \"postgres\" {\n  url = secret(\"env:TEND_TEST_PG\")\n}\n", want: "postgres://from-env@/tend"},
		"kind":       {src: "backend \"s3\" {\n  url = \"x\"\n}\n", err: "main.hcl:1,9-13: Unknown backend"},
		"no url":     {src: "backend \"postgres\" {\n}\n", err: "main.hcl:1,20-20: Missing required argument"},
		"number":     {src: "backend \"postgres\" {\n  url = 3\n}\n", err: "main.hcl:2,9-10: Invalid backend url"},
		"variable":   {src: "backend \"postgres\" {\n  url = var.x\n}\n", err: "main.hcl:2,9-12: Variables not allowed"},
		"duplicate":  {src: "backend \"postgres\" {\n  url = \"a\"\n}\nbackend \"postgres\" {\n  url = \"b\"\n}\n", err: "main.hcl:4,1-19: Duplicate backend block"},
		"other file": {src: "", want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, diags := ReadBackend(dir)
			if tc.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.err) {
					t.Errorf("diagnostics %q, want %q", diags.Error(), tc.err)
				}
				return
			}
			if diags.HasErrors() || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, diags, tc.want)
			}
		})
	}
}

// TestLoadBackendBlock: Load accepts the block at the top level only.
func TestLoadBackendBlock(t *testing.T) {
	dir := t.TempDir()
	src := "backend \"postgres\" {\n  url = \"postgres://x@/y\"\n}\nrole \"r\" {\n  hosts = \"all\"\n  backend \"postgres\" {\n    url = \"z\"\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, diags := Load(dir, nil)
	if !strings.Contains(diags.Error(), "main.hcl:6,3-10: Unsupported block type") {
		t.Errorf("a backend block in a role: %v", diags)
	}
	if c == nil || c.Backend == nil || c.Backend.Kind != "postgres" {
		t.Errorf("the top-level backend block was not read: %+v", c)
	}
}
