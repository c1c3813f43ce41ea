//go:build linux

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/tendhq/tend/transport/winrm/krbtest"
	"github.com/tendhq/tend/transport/winrm/winrmtest"
)

// TestWindowsPlanKerberos: `tend plan` against a simulated Windows host
// that accepts only Kerberos, with a real KDC (MIT's, in a throwaway realm
// on loopback) and the operator's ticket from kinit (KRB5CCNAME,
// KRB5_CONFIG), over HTTPS: from a native inventory (auth = "kerberos",
// kerberos_hostname) and from an Ansible INI inventory
// (ansible_winrm_transport=kerberos,
// ansible_winrm_kerberos_hostname_override), and with a password from a
// secret instead of a ticket. Each gives the same plan as
// NTLM (the golden plan of TestWindowsPlanApply), in one shell and one
// command, every request authenticated as the ticket's user. Without a
// ticket, plan fails naming the host and kinit.
func TestWindowsPlanKerberos(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddUser("ops", winrmPassword)
	kt, err := keytab.Load(realm.AddService("HTTP/win-app01.tend.test"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ccache := filepath.Join(dir, "krb5cc_ops")
	if err := realm.Kinit("ops", winrmPassword, ccache, 0); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", realm.KRB5Config)
	t.Setenv("KRB5CCNAME", "FILE:"+ccache)
	t.Setenv("TEND_TEST_SVC_PASSWORD", svcPassword)

	caFile := filepath.Join(dir, "ca.pem")
	inventories := map[string]func(port string) string{
		"inventory.hcl": func(port string) string {
			return fmt.Sprintf(`host "win1" {
  address   = "127.0.0.1"
  port      = %s
  transport = "winrm"
  winrm {
    https             = true
    ca_file           = %q
    auth              = "kerberos"
    kerberos_hostname = "win-app01.tend.test"
  }
}
`, port, caFile)
		},
		// No ticket needed: tend asks the KDC with the password, which
		// comes from a secret.
		"password.hcl": func(port string) string {
			return fmt.Sprintf(`host "win1" {
  address   = "127.0.0.1"
  port      = %s
  transport = "winrm"
  winrm {
    https             = true
    ca_file           = %q
    auth              = "kerberos"
    kerberos_hostname = "win-app01.tend.test"
    user              = "ops@TEND.TEST"
    password          = secret("env:TEND_TEST_WINRM_PASSWORD")
  }
}
`, port, caFile)
		},
		"hosts.ini": func(port string) string {
			return fmt.Sprintf(`[windows]
win1 ansible_host=127.0.0.1 ansible_port=%s

[windows:vars]
ansible_connection=winrm
ansible_winrm_scheme=https
ansible_winrm_transport=kerberos
ansible_winrm_kerberos_hostname_override=win-app01.tend.test
ansible_winrm_ca_trust_path=%s
ansible_user=ops@TEND.TEST
`, port, caFile)
		},
	}
	for _, name := range []string{"inventory.hcl", "hosts.ini", "password.hcl"} {
		t.Run(strings.TrimSuffix(name, filepath.Ext(name)), func(t *testing.T) {
			if name == "password.hcl" {
				t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(dir, "no-such-ccache"))
				t.Setenv("TEND_TEST_WINRM_PASSWORD", winrmPassword)
			}
			host, caPEM := winrmtest.StartKerberos(t, kt, loadWindowsFixture(t).Responder())
			if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, invDir := t.TempDir(), t.TempDir()
			writeFiles(t, cfg, map[string]string{"main.hcl": windowsConfig})
			args := []string{"plan", "-C", cfg, "-detailed-exitcode"}
			if name == "inventory.hcl" {
				writeFiles(t, cfg, map[string]string{name: inventories[name](host.Port())})
			} else {
				writeFiles(t, invDir, map[string]string{name: inventories[name](host.Port())})
				args = append(args, "-i", filepath.Join(invDir, name))
			}
			out, errOut, code := tend(t, args...)
			if code != 2 {
				t.Fatalf("plan exit %d\nstdout:\n%s\nstderr:\n%s\nKDC log:\n%s", code, out, errOut, realm.KDCLog())
			}
			golden(t, "windows/plan.txt", out)
			st := host.Stats()
			if st.ShellsCreated != 1 || st.Commands != 1 {
				t.Errorf("plan: %d shells, %d commands; want 1 and 1", st.ShellsCreated, st.Commands)
			}
			if st.Kerberos == 0 || st.Unauthorized != 0 {
				t.Errorf("server: %d requests authenticated by Kerberos, %d refused", st.Kerberos, st.Unauthorized)
			}
			for _, r := range host.Requests() {
				if r.User != "ops@TEND.TEST" {
					t.Errorf("a request as %q", r.User)
				}
			}
			if strings.Contains(out+errOut, winrmPassword) {
				t.Error("the password is in plan's output")
			}
		})
	}

	// Plain HTTP to a listener as Windows has it by default
	// (AllowUnencrypted false): plan and apply with every message sealed
	// in the Kerberos context.
	t.Run("EncryptedHTTP", func(t *testing.T) {
		host := winrmtest.StartKerberosHTTP(t, kt, loadWindowsFixture(t).Responder())
		cfg := t.TempDir()
		writeFiles(t, cfg, map[string]string{"main.hcl": windowsConfig, "inventory.hcl": fmt.Sprintf(`host "win1" {
  address   = "127.0.0.1"
  port      = %s
  transport = "winrm"
  winrm {
    auth              = "kerberos"
    kerberos_hostname = "win-app01.tend.test"
  }
}
`, host.Port())})
		out, errOut, code := tend(t, "plan", "-C", cfg, "-detailed-exitcode")
		if code != 2 {
			t.Fatalf("plan exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		golden(t, "windows/plan.txt", out)
		out, errOut, code = tend(t, "apply", "-C", cfg, "-y")
		if code != 0 {
			t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "Apply complete") {
			t.Errorf("apply:\n%s", out)
		}
		if strings.Contains(errOut, "warning") {
			t.Errorf("a warning on stderr:\n%s", errOut)
		}
		st := host.Stats()
		if st.Kerberos == 0 || st.Encrypted == 0 || st.Refused != 0 {
			t.Errorf("server: %d Kerberos authentications, %d requests decrypted, %d refused", st.Kerberos, st.Encrypted, st.Refused)
		}
		if n := len(host.Scripts()); n < 3 {
			t.Errorf("%d scripts ran: want the plan's probe, changes and their verification", n)
		}
	})

	t.Run("NoTicket", func(t *testing.T) {
		t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(dir, "no-such-ccache"))
		host, caPEM := winrmtest.StartKerberos(t, kt, loadWindowsFixture(t).Responder())
		if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := t.TempDir()
		writeFiles(t, cfg, map[string]string{"main.hcl": windowsConfig, "inventory.hcl": inventories["inventory.hcl"](host.Port())})
		out, errOut, code := tend(t, "plan", "-C", cfg)
		if all := out + errOut; code == 0 || !strings.Contains(all, "winrm win1: kerberos: no ticket") || !strings.Contains(all, "kinit") {
			t.Errorf("plan without a ticket: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if st := host.Stats(); st.Requests != 0 {
			t.Errorf("%d requests reached the host", st.Requests)
		}
	})
}
