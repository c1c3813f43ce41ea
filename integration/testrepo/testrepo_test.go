package testrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tendhq/tend/integration/lab"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if lab.Enabled() {
				t.Fatalf("needs %s (integration/scripts/pkg-deps.sh installs it)", tool)
			}
			t.Skipf("needs %s (integration/scripts/pkg-deps.sh installs it)", tool)
		}
	}
}

// files reads every file under dir, by relative path.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reproducible builds twice and compares the bytes.
func reproducible(t *testing.T, build func(string, ...Pkg) error) string {
	t.Helper()
	a, b := t.TempDir(), t.TempDir()
	if err := build(a); err != nil {
		t.Fatal(err)
	}
	if err := build(b); err != nil {
		t.Fatal(err)
	}
	fa, fb := files(t, a), files(t, b)
	if len(fa) == 0 {
		t.Fatal("nothing built")
	}
	for name := range fa {
		if !bytes.Equal(fa[name], fb[name]) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	return a
}

func TestBuildApt(t *testing.T) {
	need(t, "dpkg-deb")
	dir := reproducible(t, BuildApt)
	index, err := os.ReadFile(filepath.Join(dir, "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, stanza := range strings.Split(strings.TrimSpace(string(index)), "\n\n") {
		f := map[string]string{}
		for _, l := range strings.Split(stanza, "\n") {
			if k, v, ok := strings.Cut(l, ": "); ok {
				f[k] = v
			}
		}
		deb, err := os.ReadFile(filepath.Join(dir, f["Filename"]))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(deb); hex.EncodeToString(sum[:]) != f["SHA256"] {
			t.Errorf("%s: SHA256 in Packages does not match the file", f["Filename"])
		}
		got = append(got, f["Package"]+" "+f["Version"]+" "+f["Depends"])
	}
	want := []string{"tend-hello 1.0 ", "tend-hello 2.0 tend-dep", "tend-dep 1.0 ", "tend-other 1.0 "}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Packages (-want +got):\n%s", d)
	}
	// dpkg-deb reads back what BuildApt wrote.
	out, err := exec.Command("dpkg-deb", "-f", filepath.Join(dir, "tend-hello_2.0_all.deb"), "Depends").Output()
	if err != nil || strings.TrimSpace(string(out)) != "tend-dep" {
		t.Errorf("dpkg-deb -f: %q %v", out, err)
	}
	rel, _ := os.ReadFile(filepath.Join(dir, "Release"))
	sum := sha256.Sum256(index)
	if !strings.Contains(string(rel), hex.EncodeToString(sum[:])) {
		t.Errorf("Release does not list Packages' digest:\n%s", rel)
	}
	// A rebuild from a subset drops the other versions.
	if err := BuildApt(dir, Packages[1:]...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DebFile(Packages[0]))); err == nil {
		t.Error("tend-hello 1.0 is still in the rebuilt repository")
	}
}

func TestBuildPacman(t *testing.T) {
	dir := reproducible(t, BuildPacman)
	f, err := os.Open(filepath.Join(dir, "tend.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var entries []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, "/desc") {
			b, _ := io.ReadAll(tr)
			if !strings.Contains(string(b), "%SHA256SUM%\n") {
				t.Errorf("%s has no checksum", h.Name)
			}
		}
		entries = append(entries, h.Name)
	}
	sort.Strings(entries)
	// One version per package: the last one given (tend-hello 2.0).
	want := []string{"tend-dep-1.0-1/", "tend-dep-1.0-1/desc", "tend-hello-2.0-1/", "tend-hello-2.0-1/desc", "tend-other-1.0-1/", "tend-other-1.0-1/desc"}
	if d := cmp.Diff(want, entries); d != "" {
		t.Errorf("tend.db (-want +got):\n%s", d)
	}
}

func TestBuildRPM(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("slow (rpmbuild): runs with " + lab.EnvVar + "=1")
	}
	need(t, "rpmbuild", "createrepo_c", "rpm")
	dir := reproducible(t, BuildRPM)
	out, err := exec.Command("rpm", "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} [%{REQUIRENAME} ]\n", filepath.Join(dir, RPMFile(Packages[1]))).Output()
	if err != nil || !strings.HasPrefix(string(out), "tend-hello 2.0-1 ") || !strings.Contains(string(out), " tend-dep ") {
		t.Errorf("rpm -qp: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "repodata", "repomd.xml")); err != nil {
		t.Error(err)
	}
}
