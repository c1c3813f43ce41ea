package resources_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport/local"
)

type dirEnv string

func (d dirEnv) ReadFile(p string) ([]byte, error) { return os.ReadFile(filepath.Join(string(d), p)) }
func (d dirEnv) RenderTemplate(p string, vars cty.Value) (string, error) {
	b, err := os.ReadFile(filepath.Join(string(d), p))
	return string(b), err
}

// TestContractLocal runs the idempotence contract for the path types on
// the local transport.
func TestContractLocal(t *testing.T) {
	root := t.TempDir()
	host := &resources.Host{Name: "local", T: local.New(), RunID: "test", BackupDir: filepath.Join(t.TempDir(), "backup")}
	s := cty.StringVal
	p := func(rel string) cty.Value { return s(filepath.Join(root, rel)) }
	file, dir, link := resources.File{}, resources.Directory{}, resources.Symlink{}
	resourcetest.Run(t, host.T, host, dirEnv(root), []resourcetest.Step{
		{Name: "directory create", Type: dir, Config: map[string]cty.Value{"path": p("d"), "mode": s("0750")}, Want: plan.Create},
		{Name: "directory no-op", Type: dir, Config: map[string]cty.Value{"path": p("d"), "mode": s("0750")}, Want: plan.NoOp},
		{Name: "directory mode", Type: dir, Config: map[string]cty.Value{"path": p("d"), "mode": s("0755")}, Want: plan.Update},
		{Name: "file create", Type: file, Config: map[string]cty.Value{"path": p("d/f"), "content": s("one\n")}, Want: plan.Create},
		{Name: "file content", Type: file, Config: map[string]cty.Value{"path": p("d/f"), "content": s("two\n")}, Want: plan.Update},
		{Name: "file mode", Type: file, Config: map[string]cty.Value{"path": p("d/f"), "content": s("two\n"), "mode": s("0600")}, Want: plan.Update},
		{Name: "file drift", Type: file, Setup: "echo drift >> " + filepath.Join(root, "d/f"),
			Config: map[string]cty.Value{"path": p("d/f"), "content": s("two\n"), "mode": s("0600")}, Want: plan.Update},
		{Name: "file empty content", Type: file, Config: map[string]cty.Value{"path": p("d/empty"), "content": s("")}, Want: plan.Create},
		{Name: "file binary", Type: file, Config: map[string]cty.Value{"path": p("d/bin"), "content": s("\x00\x01\xff'\"$(x)\n")}, Want: plan.Create},
		{Name: "file absent", Type: file, Config: map[string]cty.Value{"path": p("d/f"), "state": s("absent")}, Want: plan.Delete},
		{Name: "symlink create", Type: link, Config: map[string]cty.Value{"path": p("l"), "target": s("d")}, Want: plan.Create},
		{Name: "symlink retarget", Type: link, Config: map[string]cty.Value{"path": p("l"), "target": s("/nonexistent dir/x")}, Want: plan.Update},
		{Name: "symlink absent", Type: link, Config: map[string]cty.Value{"path": p("l"), "state": s("absent")}, Want: plan.Delete},
		{Name: "directory absent with contents", Type: dir, Config: map[string]cty.Value{"path": p("d"), "state": s("absent")}, Want: plan.Delete},
	})
}

// TestFileRefusesOtherKinds: a file resource never clobbers a directory
// or a symlink; the probe reports it.
func TestFileRefusesOtherKinds(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "adir"), 0o755)
	os.Symlink("x", filepath.Join(root, "alink"))
	tr := local.New()
	for _, name := range []string{"adir", "alink"} {
		cfg := resourcetest.Object(resources.File{}, map[string]cty.Value{"path": cty.StringVal(filepath.Join(root, name)), "content": cty.StringVal("x")})
		res, err := probeOne(tr, resources.File{}, cfg)
		if err == nil {
			t.Errorf("%s: read succeeded (%+v), want an error", name, res)
		}
	}
}
