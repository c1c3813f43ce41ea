package pkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The samples in testdata are real output captured on Debian 12 (apt-cache
// 2.6, dnf 4.14, zypper 1.14, pacman 6.0) against the test repositories
// of integration/testrepo, except apk's: apk cannot run here, so
// apk-policy*.txt and apk-installed are written in the formats apk-tools
// 2.14 prints and stores (src/app_policy.c, src/database.c), not captured.

func sample(t *testing.T, name string, status int) queryOutput {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(b), "\n")
	var lines []string
	if s != "" {
		lines = strings.Split(s, "\n")
	}
	return queryOutput{Lines: lines, Status: status}
}

func TestParseIndex(t *testing.T) {
	tests := map[string]struct {
		p         provider
		file      string
		status    int
		installed string
		want      *index
		wantErr   string
	}{
		// bash's installed version is known only from dpkg's status file:
		// it cannot be installed again.
		"apt installed not offered": {p: apt{}, file: "apt-policy-bash.txt", installed: "5.2.15-2+b8",
			want: &index{Candidate: "5.2.15-2+b13", Available: []string{"5.2.15-2+b13"}}},
		"apt installed offered": {p: apt{}, file: "apt-policy-zstd.txt", installed: "1.5.4+dfsg2-5",
			want: &index{Candidate: "1.5.4+dfsg2-5", Available: []string{"1.5.4+dfsg2-5"}}},
		"apt unknown":   {p: apt{}, file: "apt-policy-unknown.txt", want: &index{}},
		"apt test repo": {p: apt{}, file: "apt-policy-tend-hello.txt", installed: "1.0", want: &index{Candidate: "2.0", Available: []string{"2.0", "1.0"}}},
		"apt fails":     {p: apt{}, file: "apt-policy-unknown.txt", status: 100, wantErr: "apt-cache policy failed"},
		"dnf":           {p: dnf{bin: "dnf"}, file: "dnf-repoquery.txt", want: &index{Candidate: "2.0-1", Available: []string{"1.0-1", "2.0-1"}}},
		"dnf installed newer": {p: dnf{bin: "dnf"}, file: "dnf-repoquery.txt", installed: "3.0-1",
			want: &index{Candidate: "3.0-1", Available: []string{"1.0-1", "2.0-1"}}},
		"dnf fails":   {p: dnf{bin: "dnf"}, file: "dnf-repoquery.txt", status: 1, wantErr: "dnf repoquery failed: Unable to detect"},
		"zypper":      {p: zypper{}, file: "zypper-search.xml", want: &index{Candidate: "2.0-1", Available: []string{"2.0-1", "1.0-1"}}},
		"zypper none": {p: zypper{}, file: "zypper-search-none.xml", status: zypperCapNotFound, want: &index{}},
		// Installed from an rpm file: offered by no repository.
		"zypper system": {p: zypper{}, file: "zypper-search-system.xml", installed: "1.0-1", want: &index{Candidate: "1.0-1"}},
		"zypper broken repository": {p: zypper{}, file: "zypper-search-error.xml", status: zypperCapNotFound,
			wantErr: "zypper search failed: Repository 't' is invalid."},
		"zypper fails": {p: zypper{}, file: "zypper-search.xml", status: 4, wantErr: "zypper search failed: "},
		"pacman":       {p: pacman{}, file: "pacman-si.txt", installed: "1.0-1", want: &index{Candidate: "2.0-1", Available: []string{"2.0-1"}}},
		"pacman none":  {p: pacman{}, file: "pacman-si-none.txt", status: 1, want: &index{}},
		"pacman fails": {p: pacman{}, file: "pacman-si-error.txt", status: 255, wantErr: "pacman -Si failed: error: failed to initialize alpm library"},
		// 2.1-r0 is only in a tagged repository (@edge): not a candidate.
		"apk": {p: apk{}, file: "apk-policy.txt", installed: "1.0-r0", want: &index{Candidate: "2.0-r0", Available: []string{"1.0-r0", "2.0-r0"}}},
		// Installed from a local file, newer than the repositories: latest
		// keeps it.
		"apk installed newer": {p: apk{}, file: "apk-policy-local.txt", installed: "3.0-r0", want: &index{Candidate: "3.0-r0", Available: []string{"1.0-r0"}}},
		"apk fails":           {p: apk{}, file: "apk-policy.txt", status: 1, wantErr: "apk policy failed"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tt.p.parseIndex(sample(t, tt.file, tt.status), tt.installed)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("index (-want +got):\n%s", d)
			}
		})
	}
}

func TestCachedVersion(t *testing.T) {
	tests := []struct {
		name, file, want string
		ok               bool
	}{
		{"tend-hello", "tend-hello-1.0-1-any.pkg.tar.gz", "1.0-1", true},
		{"tend-hello", "tend-hello-1:2.0.3-2-x86_64.pkg.tar.zst", "1:2.0.3-2", true},
		{"tend", "tend-hello-1.0-1-any.pkg.tar.gz", "", false},
		{"tend-hello", "tend-hello-extra-1.0-1-any.pkg.tar.zst", "", false},
		{"tend-hello", "tend-hello-1.0-1-any.pkg.tar.zst.sig", "", false},
		{"linux", "linux-6.7.arch1-1-x86_64.pkg.tar.zst", "6.7.arch1-1", true},
	}
	for _, tt := range tests {
		got, ok := cachedVersion(tt.name, tt.file)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cachedVersion(%q, %q) = %q, %v; want %q, %v", tt.name, tt.file, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRPMVerCmp(t *testing.T) {
	// From rpm's own test suite (tests/rpmvercmp.at), among others.
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
		{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1a", "2.0.1", 1},
		{"5.5p1", "5.5p2", -1}, {"5.5p10", "5.5p1", 1},
		{"10xyz", "10.1xyz", -1}, {"xyz10", "xyz10.1", -1},
		{"xyz.4", "8", -1}, {"8", "xyz.4", 1},
		{"1b.fc17", "1.fc17", -1}, {"1.fc17", "1g.fc17", -1}, {"1g.fc17", "1.fc17", 1},
		{"1.0~rc1", "1.0", -1}, {"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc1~git123", "1.0~rc1", -1},
		{"1.0^", "1.0", 1}, {"1.0^git1", "1.0", 1}, {"1.0^git1", "1.01", -1}, {"1.0^20160101", "1.0.1", -1},
		{"1.0^git1~pre", "1.0^git1", -1}, {"001", "1", 0}, {"1.002", "1.2", 0},
		{"a+", "a_", 0}, {"+", "_", 0},
	}
	for _, tt := range tests {
		if got := rpmvercmp(tt.a, tt.b); got != tt.want {
			t.Errorf("rpmvercmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	evr := []struct {
		a, b string
		want int
	}{
		{"1:1.0-1", "2.0-1", 1}, {"1.0-1", "1.0-2", -1}, {"1.0", "1.0-2", 0}, {"0:1.0-1", "1.0-1", 0},
		{"2.0-1.el9", "2.0-1.el9_1", -1},
	}
	for _, tt := range evr {
		if got := evrcmp(tt.a, tt.b); got != tt.want {
			t.Errorf("evrcmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRPMMatches(t *testing.T) {
	tests := []struct {
		pin, v string
		want   bool
	}{
		{"1.0-1", "1.0-1", true}, {"1.0", "1.0-1", true}, {"1.0", "1.0-1.el9", true},
		{"1.0", "1.0.1-1", false}, {"1.0-2", "1.0-1", false}, {"1.0", "1:1.0-1", false}, {"1:1.0", "1:1.0-1", true},
	}
	for _, tt := range tests {
		if got := rpmMatches(tt.pin, tt.v); got != tt.want {
			t.Errorf("rpmMatches(%q, %q) = %v, want %v", tt.pin, tt.v, got, tt.want)
		}
	}
}
