package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tendhq/tend/shell"
)

// workload is one of the benchmark's workloads: "w1" (a realistic host:
// files from templates, a directory, cron tasks, packages, a service,
// users), "w2-N" (N files) or "big-N" (one file of N MiB of random bytes
// from a `source` on the controller, timed against scp of the same file).
type workload struct {
	name  string
	kind  string // "w1", "w2" or "big"
	files int    // w2: number of files
	mib   int    // big: the file's size in MiB
}

func parseWorkload(s string) (workload, error) {
	if s == "w1" {
		return workload{name: s, kind: "w1"}, nil
	}
	if n, ok := strings.CutPrefix(s, "w2-"); ok {
		if k, err := strconv.Atoi(n); err == nil && k > 0 {
			return workload{name: s, kind: "w2", files: k}, nil
		}
	}
	if n, ok := strings.CutPrefix(s, "big-"); ok {
		if k, err := strconv.Atoi(n); err == nil && k > 0 && k <= 16384 {
			return workload{name: s, kind: "big", mib: k}, nil
		}
	}
	return workload{}, fmt.Errorf("unknown workload %q (want w1, w2-N with N files, e.g. w2-100, or big-N with N MiB, e.g. big-1024)", s)
}

// resources is how many resources w declares per host.
func (w workload) resources() int {
	switch w.kind {
	case "w1":
		return 31
	case "big":
		return 2
	}
	return w.files + 1
}

// firstFile is the file the drift scenario edits, relative to the tool's
// directory.
func (w workload) firstFile() string {
	switch w.kind {
	case "w1":
		return "app00.conf"
	case "big":
		return bigFile
	}
	return "f000.conf"
}

// bigFile is the name of the big workload's file, on the controller (in
// tend's configuration directory) and on the hosts.
const bigFile = "big.bin"

// bigTools are the tools a big cell times: tend (and its baseline), scp
// of the same file, and the login floor.
var bigTools = []string{"tend", "tend-base", "scp", "floor"}

// writeBigSource writes w's file of random bytes into dir.
func writeBigSource(dir string, w workload) error {
	f, err := os.Create(filepath.Join(dir, bigFile))
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, int64(w.mib)<<20); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dir is where tool keeps w's files on each host: the tools' resources
// never overlap, so both can be converged at once.
func (w workload) dir(tool string) string {
	switch {
	case strings.HasPrefix(tool, "ansible"):
		tool = "ansible"
	case strings.HasPrefix(tool, "tend"):
		tool = "tend"
	case strings.HasPrefix(tool, "floor"):
		tool = "floor"
	}
	return "/srv/bench-" + tool + "-" + w.kind
}

// w1Types are the resource types W1 would like to use; each has a fallback
// built from file and exec resources when `tend validate` rejects it.
var w1Types = []string{"package", "service", "scheduled_task", "user"}

// typeSupport says which of w1Types this tend accepts.
type typeSupport map[string]bool

// probeTypes asks tend which of w1Types it knows, with `tend validate` on
// a one-resource configuration of each.
func probeTypes(tendBin, tmp string) typeSupport {
	samples := map[string]string{
		"package":        `package "tend-hello" {}`,
		"service":        "service \"cron\" {\n  running = true\n  enabled = true\n}",
		"scheduled_task": "scheduled_task \"job\" {\n  schedule = \"*/5 * * * *\"\n  command  = \"/bin/true\"\n}",
		"user":           `user "tendu1" {}`,
	}
	ts := typeSupport{}
	for _, t := range w1Types {
		dir := filepath.Join(tmp, "validate-"+t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(samples[t]+"\n"), 0o644); err != nil {
			continue
		}
		cmd := exec.Command(tendBin, "validate", "-C", dir)
		ts[t] = cmd.Run() == nil
	}
	return ts
}

// label names the workload as run, saying which W1 resources fell back.
func (w workload) label(ts typeSupport) string {
	switch w.kind {
	case "w2":
		return fmt.Sprintf("W2-%d (%d files)", w.files, w.files)
	case "big":
		return fmt.Sprintf("BIG-%d (one %d MiB source file)", w.mib, w.mib)
	}
	var fb []string
	for _, t := range w1Types {
		if !ts[t] {
			fb = append(fb, t)
		}
	}
	if len(fb) == 0 {
		return "W1"
	}
	return "W1* (fallback for " + strings.Join(fb, ", ") + ")"
}

const tendTemplate = `# ${name} on ${host}: managed by the tend benchmark
[server]
name    = ${name}
index   = ${index}
host    = ${host}
port    = ${8000 + index}
workers = 4
log     = /var/log/bench/${name}.log

[features]
compression = true
cache_mb    = ${64 * (index + 1)}
`

const ansibleTemplate = `# {{ item.name }} on {{ inventory_hostname }}: managed by the tend benchmark
[server]
name    = {{ item.name }}
index   = {{ item.index }}
host    = {{ inventory_hostname }}
port    = {{ 8000 + item.index }}
workers = 4
log     = /var/log/bench/{{ item.name }}.log

[features]
compression = true
cache_mb    = {{ 64 * (item.index + 1) }}
`

// writeTend writes the tend configuration of w into dir (main.hcl and
// templates; the inventory is written by the caller).
func writeTend(dir string, w workload, ts typeSupport) error {
	var b strings.Builder
	if w.kind == "big" {
		fmt.Fprintf(&b, `directory "bench" {
  path = "@DIR@"
  mode = "0755"
}

file "big" {
  path   = "@DIR@/%s"
  source = "%s"
  mode   = "0644"
}
`, bigFile, bigFile)
		if err := writeBigSource(dir, w); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.ReplaceAll(b.String(), "@DIR@", w.dir("tend"))), 0o644)
	}
	if w.kind == "w2" {
		fmt.Fprintf(&b, `directory "bench" {
  path = "@DIR@"
  mode = "0755"
}

file "f" {
  for_each = { for i in range(%d) : format("f%%03d", i) => i }
  path     = "@DIR@/${each.key}.conf"
  content  = "key${each.value} = ${host.name}\n"
  mode     = "0644"
}
`, w.files)
		return os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.ReplaceAll(b.String(), "@DIR@", w.dir("tend"))), 0o644)
	}
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "templates/app.conf.tftpl"), []byte(tendTemplate), 0o644); err != nil {
		return err
	}
	b.WriteString(`directory "bench" {
  path = "@DIR@"
  mode = "0755"
}

file "app" {
  for_each = { for i in range(20) : format("app%02d", i) => i }
  path     = "@DIR@/${each.key}.conf"
  content  = templatefile("templates/app.conf.tftpl", { name = each.key, index = each.value, host = host.name })
  mode     = "0644"
}
`)
	if ts["scheduled_task"] {
		b.WriteString(`
scheduled_task "job" {
  for_each = toset(["1", "2", "3", "4", "5"])
  name     = "bench-job${each.key}"
  schedule = "*/5 * * * *"
  command  = "/bin/true tend job ${each.key}"
}
`)
	} else {
		b.WriteString(`
# Fallback: scheduled_task is not available; cron.d files instead.
file "job" {
  for_each = toset(["1", "2", "3", "4", "5"])
  path     = "/etc/cron.d/tend-bench-job${each.key}"
  content  = "*/5 * * * * root /bin/true tend job ${each.key}\n"
  mode     = "0644"
}
`)
	}
	if ts["package"] {
		b.WriteString(`
package "tend-hello" {}
package "tend-other" {}
package "tend-dep" {
  state = "absent"
}
`)
	} else {
		b.WriteString(`
# Fallback: package is not available; apt-get through exec.
exec "packages" {
  command = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q tend-hello tend-other"
  unless  = "[ \"$(dpkg-query -W -f='$${db:Status-Abbrev}\\n' tend-hello tend-other 2>/dev/null | grep -c '^ii')\" = 2 ]"
}
exec "dep_absent" {
  command = "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tend-dep"
  unless  = "! dpkg-query -W -f='$${db:Status-Abbrev}' tend-dep 2>/dev/null | grep -q '^ii'"
}
`)
	}
	if ts["service"] {
		b.WriteString(`
service "cron" {
  running = true
  enabled = true
}
`)
	} else {
		b.WriteString(`
# Fallback: service is not available; systemctl through exec.
exec "cron" {
  command = "systemctl enable --now cron"
  unless  = "systemctl is-active -q cron && systemctl is-enabled -q cron"
}
`)
	}
	if ts["user"] {
		b.WriteString(`
user "tendu1" {}
user "tendu2" {}
`)
	} else {
		b.WriteString(`
# Fallback: user is not available; useradd through exec.
exec "tendu1" {
  command = "useradd -m tendu1"
  unless  = "id tendu1"
}
exec "tendu2" {
  command = "useradd -m tendu2"
  unless  = "id tendu2"
}
`)
	}
	return os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.ReplaceAll(b.String(), "@DIR@", w.dir("tend"))), 0o644)
}

// writeAnsible writes the equivalent Ansible project into dir: ansible.cfg
// (tuned: forks = hosts, pipelining, ControlPersist, the interpreter named
// so that it is not discovered), the inventory, and two playbooks that
// differ only in gathering facts.
func writeAnsible(dir string, w workload, hosts []hostInfo, key, known string) error {
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`[defaults]
inventory = inventory.ini
forks = %d
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
nocolor = True
deprecation_warnings = False
# The play decides: gather_facts false (site.yml) or true (site-facts.yml).
gathering = implicit
# The SSH handshake's budget, as tend's (ConnectTimeout 30) and the Go
# floor's: 50 lab hosts handshaking at once on two cores can take longer
# than the default 10 s.
timeout = 30

[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o PreferredAuthentications=publickey
`, len(hosts), known)
	var inv strings.Builder
	inv.WriteString("[bench]\n")
	for _, h := range hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s\n", h.name, h.address)
	}
	fmt.Fprintf(&inv, "\n[bench:vars]\nansible_user=root\nansible_ssh_private_key_file=%s\n", key)

	var tasks strings.Builder
	tasks.WriteString(`    - name: directory
      ansible.builtin.file:
        path: "@DIR@"
        state: directory
        mode: "0755"
`)
	if w.kind == "w2" {
		fmt.Fprintf(&tasks, `    - name: files
      ansible.builtin.copy:
        dest: "@DIR@/f{{ '%%03d' | format(item) }}.conf"
        content: "key{{ item }} = {{ inventory_hostname }}\n"
        mode: "0644"
      loop: "{{ range(%d) | list }}"
`, w.files)
	} else {
		if err := os.WriteFile(filepath.Join(dir, "templates/app.conf.j2"), []byte(ansibleTemplate), 0o644); err != nil {
			return err
		}
		tasks.WriteString(`    - name: templated files
      ansible.builtin.template:
        src: templates/app.conf.j2
        dest: "@DIR@/{{ item.name }}.conf"
        mode: "0644"
      loop:
`)
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&tasks, "        - { name: app%02d, index: %d }\n", i, i)
		}
		tasks.WriteString(`    - name: cron tasks
      ansible.builtin.cron:
        name: "bench-job{{ item }}"
        cron_file: "ansible-bench-job{{ item }}"
        user: root
        minute: "*/5"
        job: "/bin/true ansible job {{ item }}"
      loop: [1, 2, 3, 4, 5]
    - name: packages present
      ansible.builtin.apt:
        name: [tend-hello, tend-other]
        state: present
    - name: package absent
      ansible.builtin.apt:
        name: tend-dep
        state: absent
    - name: service
      ansible.builtin.service:
        name: cron
        state: started
        enabled: true
    - name: users
      ansible.builtin.user:
        name: "{{ item }}"
      loop: [ansu1, ansu2]
`)
	}
	files := map[string]string{
		"ansible.cfg":   cfg,
		"inventory.ini": inv.String(),
	}
	for name, facts := range map[string]bool{"site.yml": false, "site-facts.yml": true} {
		play := fmt.Sprintf("- name: %s\n  hosts: bench\n  gather_facts: %t\n  tasks:\n%s", w.name, facts, tasks.String())
		files[name] = strings.ReplaceAll(play, "@DIR@", w.dir("ansible"))
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// w1Content is W1's templated file for one host, rendered from tendTemplate
// as tend renders it (the floor writes the same bytes).
func w1Content(name string, index int, host string) string {
	return strings.NewReplacer(
		"${name}", name,
		"${index}", strconv.Itoa(index),
		"${host}", host,
		"${8000 + index}", strconv.Itoa(8000+index),
		"${64 * (index + 1)}", strconv.Itoa(64*(index+1)),
	).Replace(tendTemplate)
}

// floorApplyScript is the floor of a fresh apply on one host: what a
// hand-written shell script does to bring a reset host to w's state, with
// the fewest processes and no checks. Files are written by the shell's
// printf in place (not atomically), the packages change in one apt-get,
// cron is enabled and started by one systemctl. Its own names (directory,
// cron files, users) do not overlap tend's or Ansible's.
func floorApplyScript(w workload, host string) string {
	var b strings.Builder
	d := w.dir("floor")
	b.WriteString("set -e\numask 022\n")
	fmt.Fprintf(&b, "mkdir -p %s\nchmod 0755 %s\n", d, d)
	if w.kind == "w2" {
		for i := 0; i < w.files; i++ {
			fmt.Fprintf(&b, "printf %%s %s > %s/f%03d.conf\n", shell.Quote(fmt.Sprintf("key%d = %s\n", i, host)), d, i)
		}
		return b.String()
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("app%02d", i)
		fmt.Fprintf(&b, "printf %%s %s > %s/%s.conf\n", shell.Quote(w1Content(name, i, host)), d, name)
	}
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, "printf %%s %s > /etc/cron.d/floor-bench-job%d\n", shell.Quote(fmt.Sprintf("*/5 * * * * root /bin/true floor job %d\n", i)), i)
	}
	// stdin is this script (sh -s): nothing else may read it.
	b.WriteString(`DEBIAN_FRONTEND=noninteractive apt-get install -q -y tend-hello tend-other tend-dep- </dev/null >/dev/null
systemctl enable --now cron </dev/null >/dev/null
useradd -m flooru1 </dev/null
useradd -m flooru2 </dev/null
`)
	return b.String()
}
