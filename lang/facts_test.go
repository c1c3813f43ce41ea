package lang

import "testing"

// TestUsesFacts: the planner evaluates a configuration once per host
// only when no resource can read host.facts, so every way to reach them
// must count.
func TestUsesFacts(t *testing.T) {
	for _, c := range []struct {
		name, body string
		uses       bool
	}{
		{"none", `file "a" {
  path    = "/tmp/a-${host.name}"
  content = host.vars.x
}`, false},
		{"attribute", `file "a" {
  path    = "/tmp/a"
  content = host.facts.os.family
}`, true},
		{"index", `file "a" {
  path    = "/tmp/a"
  content = host["facts"].arch
}`, true},
		{"whole host", `file "a" {
  path    = "/tmp/a"
  content = jsonencode(host)
}`, true},
		{"template vars", `file "a" {
  path    = "/tmp/a"
  content = templatefile("t.tftpl", { h = host.facts })
}`, true},
		{"when", `file "a" {
  path    = "/tmp/a"
  content = "x"
  when    = host.facts.os.family == "debian"
}`, true},
		{"for_each", `file "a" {
  for_each = toset([host.facts.arch])
  path     = "/tmp/a"
  content  = "x"
}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := load(t, map[string]string{"main.hcl": c.body + "\n", "t.tftpl": "${h}"})
			if got := cfg.UsesFacts(); got != c.uses {
				t.Errorf("UsesFacts() = %v, want %v", got, c.uses)
			}
		})
	}
}
