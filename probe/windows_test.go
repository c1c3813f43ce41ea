package probe

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/resources"
)

var update = flag.Bool("update", false, "rewrite golden files")

var winFrags = []Fragment{
	{ID: "file.app_conf", Script: "$p = 'C:\\ProgramData\\Contoso\\app.conf'\ntendOut type 'file'\n"},
	{ID: `service.w3svc["it's"]`, Script: "$n = 'W3SVC'\ntendOut present 'true'\n"},
}

// TestWindowsScript pins the Windows probe script (facts and two
// fragments) with a golden file: no PowerShell runs here.
func TestWindowsScript(t *testing.T) {
	got := WindowsScript(true, winFrags)
	path := filepath.Join("testdata", "windows", "probe.ps1")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("probe script differs from %s (-golden +got; -update rewrites it):\n%s", path, d)
	}
	if got != WindowsScript(true, winFrags) {
		t.Error("the same probes give different scripts")
	}
	for _, must := range []string{"$ProgressPreference = 'SilentlyContinue'", "$ErrorActionPreference = 'Stop'", "ConvertTo-Json"} {
		if !strings.Contains(got, must) {
			t.Errorf("script lacks %q", must)
		}
	}
}

// TestParseWindows reads the JSON a Windows Server 2022 host would answer
// (a fixture): facts, a fragment's values, a fragment's error.
func TestParseWindows(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "windows", "answer-ws2022.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string][]byte{"plain": raw, "bom+crlf": append(append([]byte("\xef\xbb\xbf"), raw...), "\r\n"...)} {
		res, err := ParseWindows(true, winFrags, out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := res.Facts
		if f.OS.Family != "windows" || f.OS.Name != "windows" || f.OS.Version != "10.0.20348" || f.OS.Pretty != "Microsoft Windows Server 2022 Datacenter" ||
			f.Kernel != "windows" || f.Arch != "x86_64" || f.CPUs != 4 || f.MemoryMB != 8191 || f.PackageManager != "chocolatey" ||
			f.User != `WIN-APP01\ops` || f.UID != -1 || f.BackupDir != `C:\ProgramData\tend\backup` || f.Hostname != "WIN-APP01" {
			t.Errorf("%s: facts = %+v", name, f)
		}
		wantOut := map[string]resources.ProbeOutput{
			"file.app_conf": {Values: map[string]string{"type": "file", "size": "15", "owner": `BUILTIN\Administrators`, "owner_sid": "S-1-5-32-544",
				"sha256": "f37c6e2fbff0441017bd01bb7d47e00e4d9303db26e0b865a529e56d8a77bfb1"}},
			`service.w3svc["it's"]`: {Values: map[string]string{"present": "true"}, Other: `Cannot find path 'HKLM:\SYSTEM\CurrentControlSet\Services\W3SVC' because it does not exist. (line 41)`},
		}
		if d := cmp.Diff(wantOut, res.Outputs); d != "" {
			t.Errorf("%s: outputs (-want +got):\n%s", name, d)
		}
		if d := cmp.Diff(map[string]string{`service.w3svc["it's"]`: `Cannot find path 'HKLM:\SYSTEM\CurrentControlSet\Services\W3SVC' because it does not exist. (line 41)`}, res.Failed); d != "" {
			t.Errorf("%s: failed (-want +got):\n%s", name, d)
		}
	}
}

// TestParseWindowsBad: output that is not the answer is a clear error,
// never a partial result.
func TestParseWindowsBad(t *testing.T) {
	for name, out := range map[string]string{
		"empty":           "",
		"text":            "Get-CimInstance : Access denied",
		"missing section": `{"sections":{"facts":{"values":{},"error":null},"0":{"values":{},"error":null}}}`,
		"no facts":        `{"sections":{}}`,
	} {
		if _, err := ParseWindows(true, winFrags, []byte(out)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
