package patch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A real apt-get -s upgrade transcript (Debian 12), trimmed.
const simulation = `NOTICE: 'debian' not in sources
Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following packages will be upgraded:
  libssl3 openssl tend-hello
3 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
Inst tend-dep (1.0 tend:tend [all])
Inst libssl3 [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst tend-hello [1.0] (2.0 tend:tend [all])
Conf tend-dep (1.0 tend:tend [all])
Conf libssl3 (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
`

func TestParseSimulation(t *testing.T) {
	all := []Upgrade{
		{Name: "libssl3", From: "3.0.11-1~deb12u1", To: "3.0.15-1~deb12u1"},
		{Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.15-1~deb12u1"},
		{Name: "tend-dep", From: "", To: "1.0"},
		{Name: "tend-hello", From: "1.0", To: "2.0"},
	}
	if diff := cmp.Diff(all, parseSimulation([]byte(simulation), false)); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[:2], parseSimulation([]byte(simulation), true)); diff != "" {
		t.Errorf("security only (-want +got):\n%s", diff)
	}
}
