package pkg

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

func TestNuGetCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.43.0", "2.43.0.0", 0},
		{"2.43", "2.43.0", 0},
		{"2.43.0", "2.42.9", 1},
		{"2.9", "2.10", -1},
		{"1.0.0-beta", "1.0.0", -1},
		{"1.0.0-beta.2", "1.0.0-beta.10", -1},
		{"1.0.0-alpha", "1.0.0-Beta", -1},
		{"1.0.0-1", "1.0.0-alpha", -1},
		{"1.0.0-beta", "1.0.0-beta.1", -1},
		{"1.0.0+build5", "1.0.0", 0},
		{"2024.003.20215", "2024.3.20201.1", 1},
	} {
		if got := nugetCompare(c.a, c.b); got != c.want {
			t.Errorf("nugetCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := nugetCompare(c.b, c.a); got != -c.want {
			t.Errorf("nugetCompare(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

// The answers are written from Chocolatey's documentation of choco
// search --exact --limit-output ("id|version", one line per source that
// offers the package; exit status 2 for no results with its enhanced
// exit codes), not recorded from a real Chocolatey.
func TestParseChocoSearch(t *testing.T) {
	for name, c := range map[string]struct {
		rc    string
		lines []string
		want  string
		err   string
	}{
		"one source":          {"0", []string{"git|2.47.1"}, "2.47.1", ""},
		"two sources":         {"0", []string{"git|2.43.0", "GIT|2.47.1", "git|2.44.0"}, "2.47.1", ""},
		"notices skipped":     {"0", []string{"[NuGet] No Authorization header detected", "git|2.47.1"}, "2.47.1", ""},
		"other id skipped":    {"0", []string{"git.install|2.48.0", "git|2.47.1"}, "2.47.1", ""},
		"none, enhanced":      {"2", nil, "", ""},
		"none, plain":         {"0", nil, "", ""},
		"source unreachable":  {"1", []string{"Error retrieving packages from source 'https://repo.corp.example/chocolatey':", " The remote name could not be resolved"}, "", "exit status 1"},
		"status not a number": {"", nil, "", "choco search git failed"},
	} {
		got, err := parseChocoSearch("git", c.rc, c.lines)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one with %q", name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case got != c.want:
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
	_, err := parseChocoSearch("git", "1", []string{"Error retrieving packages from source 'https://repo.corp.example/chocolatey':", " The remote name could not be resolved"})
	if err == nil || !strings.Contains(err.Error(), "could not be resolved") {
		t.Errorf("the error does not carry Chocolatey's words: %v", err)
	}
}

// TestChocolateyLatestRefusals: what tend refuses at plan time, with the
// reason, instead of a change that could not succeed or verify.
func TestChocolateyLatestRefusals(t *testing.T) {
	obj := func(attrs map[string]cty.Value) cty.Value {
		full := map[string]cty.Value{}
		for _, a := range (Package{}).Schema().Attributes {
			full[a.Name] = cty.NullVal(a.Type)
		}
		for k, v := range attrs {
			full[k] = v
		}
		return cty.ObjectVal(full)
	}
	latest := obj(map[string]cty.Value{"name": cty.StringVal("git"), "state": cty.StringVal("latest")})
	resolve := func(cfg cty.Value, values map[string]string) error {
		want, err := Package{}.WindowsDesired(cfg, nil)
		if err != nil {
			return err
		}
		cur, err := Package{}.WindowsRead(cfg, resources.ProbeOutput{Values: values})
		if err != nil {
			return err
		}
		_, err = Package{}.WindowsResolve(cfg, cur, want)
		return err
	}
	for name, c := range map[string]struct {
		cfg    cty.Value
		values map[string]string
		err    string
	}{
		"pinned below the newest": {latest, map[string]string{"choco": "true", "installed": "true", "version": "2.42.0", "pinned": "true", "search.rc": "0", "search.1": "git|2.47.1"},
			"git is pinned at 2.42.0 in Chocolatey (choco pin), which refuses to change it to 2.47.1"},
		"pinned away from a declared version": {obj(map[string]cty.Value{"name": cty.StringVal("git"), "version": cty.StringVal("2.43.0")}),
			map[string]string{"choco": "true", "installed": "true", "version": "2.42.0", "pinned": "true"}, "choco pin remove --name git"},
		"offered nowhere": {latest, map[string]string{"choco": "true", "installed": "false", "search.rc": "2"}, "no package git in Chocolatey's sources"},
		"search failed": {latest, map[string]string{"choco": "true", "installed": "true", "version": "2.42.0", "pinned": "false", "search.rc": "1", "search.1": "Unable to load the service index for source https://repo.corp.example/v3/index.json."},
			"choco search git failed (exit status 1): Unable to load the service index"},
		"msi has no source to ask": {obj(map[string]cty.Value{"name": cty.StringVal("7zip"), "state": cty.StringVal("latest"), "product_code": cty.StringVal("{23170F69-40C1-2702-2301-000001000000}"), "source": cty.StringVal(`\\fs01\7z.msi`)}),
			nil, "the msi provider has none"},
		"latest with a version": {obj(map[string]cty.Value{"name": cty.StringVal("git"), "state": cty.StringVal("latest"), "version": cty.StringVal("2.43.0")}),
			nil, "version only with state \"present\""},
	} {
		err := resolve(c.cfg, c.values)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.err)
		}
	}
	// Installed and offered nowhere (a package from a source since
	// removed): latest keeps what is there.
	cur, err := Package{}.WindowsRead(latest, resources.ProbeOutput{Values: map[string]string{"choco": "true", "installed": "true", "version": "1.0.0", "pinned": "false", "search.rc": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Package{}.WindowsDesired(latest, nil)
	got, err := Package{}.WindowsResolve(latest, cur, want)
	if err != nil || got.Str("version") != "1.0.0" {
		t.Errorf("installed, offered nowhere: %v %v", got, err)
	}
}
