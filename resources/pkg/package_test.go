package pkg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/resources/pkg/pkgtest"
	"github.com/tendhq/tend/resources/resourcetest"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/local"
)

func obj(attrs map[string]cty.Value) cty.Value { return resourcetest.Object(Package{}, attrs) }

func TestDesiredAndKey(t *testing.T) {
	s := cty.StringVal
	tests := map[string]struct {
		cfg     map[string]cty.Value
		want    *resources.State
		key     string
		wantErr string
	}{
		"present":     {cfg: map[string]cty.Value{"name": s("nginx")}, key: "package nginx", want: &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("nginx")}}},
		"pinned":      {cfg: map[string]cty.Value{"name": s("libc6:i386"), "version": s("2.36-9+deb12u4")}, key: "package libc6:i386", want: &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("libc6:i386"), "version": s("2.36-9+deb12u4")}}},
		"latest":      {cfg: map[string]cty.Value{"name": s("nginx"), "state": s("latest")}, key: "package nginx", want: &resources.State{Present: true, Attrs: map[string]cty.Value{"name": s("nginx")}}},
		"absent":      {cfg: map[string]cty.Value{"name": s("nginx"), "state": s("absent")}, key: "package nginx", want: &resources.State{Attrs: map[string]cty.Value{"name": s("nginx")}}},
		"no name":     {cfg: map[string]cty.Value{}, wantErr: "name: name is required"},
		"bad name":    {cfg: map[string]cty.Value{"name": s("-oops")}, wantErr: `name: "-oops" is not a package name`},
		"glob name":   {cfg: map[string]cty.Value{"name": s("nginx*")}, wantErr: `name: "nginx*" is not a package name`},
		"spaces":      {cfg: map[string]cty.Value{"name": s("a b")}, wantErr: `name: "a b" is not a package name`},
		"bad state":   {cfg: map[string]cty.Value{"name": s("a"), "state": s("installed")}, wantErr: `state: must be "present", "latest" or "absent", got "installed"`},
		"pin latest":  {cfg: map[string]cty.Value{"name": s("a"), "state": s("latest"), "version": s("1")}, wantErr: `version: a version pin needs state "present", not "latest"`},
		"bad version": {cfg: map[string]cty.Value{"name": s("a"), "version": s("1.0; rm -rf /")}, wantErr: `version: "1.0; rm -rf /" is not a package version`},
		"bad provider": {cfg: map[string]cty.Value{"name": s("a"), "provider": s("brew")},
			wantErr: `provider: must be one of apt, dnf, yum, zypper, apk, pacman, got "brew"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := obj(tt.cfg)
			got, err := Package{}.Desired(cfg, nil)
			key, kerr := Package{}.Key(cfg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || kerr == nil {
					t.Fatalf("Desired error %v, Key error %v, want %q", err, kerr, tt.wantErr)
				}
				if _, ok := err.(*resources.AttrError); !ok {
					t.Errorf("error is a %T, want *resources.AttrError", err)
				}
				return
			}
			if err != nil || kerr != nil {
				t.Fatal(err, kerr)
			}
			if key != tt.key {
				t.Errorf("key %q, want %q", key, tt.key)
			}
			if plan.Fingerprint(got) != plan.Fingerprint(tt.want) {
				w, _ := tt.want.MarshalJSON()
				g, _ := got.MarshalJSON()
				t.Errorf("desired %s, want %s", g, w)
			}
		})
	}
}

// fakeBin makes a directory of stand-in executables (name → sh script),
// each logging its arguments to dir/calls, and puts it first in PATH, or
// alone in PATH when only is set (so the probe finds no other package
// manager).
func fakeBin(t *testing.T, only bool, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		script := "#!/bin/sh\nprintf '%s\\n' \"" + name + " $*\" >> " + filepath.Join(dir, "calls") + "\n" + body
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if only {
		t.Setenv("PATH", dir)
	} else {
		t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	}
	return dir
}

func calls(t *testing.T, dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func probeState(t *testing.T, typ Package, cfg cty.Value) (*resources.State, error) {
	t.Helper()
	res, err := probe.Run(context.Background(), local.New(), false, []probe.Fragment{{ID: "p", Script: typ.Probe(cfg, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := res.Failed["p"]; ok {
		return nil, &resources.ProbeError{Msg: msg}
	}
	return typ.Read(cfg, res.Outputs["p"])
}

// TestProbeCost: a package already as declared costs one dpkg-query; the
// index (apt-cache policy) is asked only when the plan needs it. The
// provider is detected on the host when not configured.
func TestProbeCost(t *testing.T) {
	policy, err := os.ReadFile("testdata/apt-policy-tend-hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir := fakeBin(t, false, map[string]string{
		// tend-hello 1.0 is installed; nothing else is.
		"dpkg-query": `for a; do n=$a; done; [ "$n" = tend-hello ] && { echo 'ii 1.0'; exit 0; }; echo "dpkg-query: no packages found matching $n" >&2; exit 1`,
		"apt-cache":  "cat <<'EOF'\n" + string(policy) + "\nEOF\n",
		"apt-get":    "exit 0",
	})
	s := cty.StringVal
	tests := map[string]struct {
		cfg       map[string]cty.Value
		wantCalls []string
		present   bool
		version   string
		candidate string
	}{
		"installed":         {cfg: map[string]cty.Value{"name": s("tend-hello")}, present: true, version: "1.0", wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-hello"}},
		"pinned, installed": {cfg: map[string]cty.Value{"name": s("tend-hello"), "version": s("1.0")}, present: true, version: "1.0", wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-hello"}},
		"absent, absent":    {cfg: map[string]cty.Value{"name": s("tend-other"), "state": s("absent")}, wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-other"}},
		"pinned, other": {cfg: map[string]cty.Value{"name": s("tend-hello"), "version": s("2.0")}, present: true, version: "1.0", candidate: "2.0",
			wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-hello", "apt-cache policy -- tend-hello"}},
		"latest": {cfg: map[string]cty.Value{"name": s("tend-hello"), "state": s("latest")}, present: true, version: "1.0", candidate: "2.0",
			wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-hello", "apt-cache policy -- tend-hello"}},
		"to remove": {cfg: map[string]cty.Value{"name": s("tend-hello"), "state": s("absent")}, present: true, version: "1.0", candidate: "2.0",
			wantCalls: []string{"dpkg-query -W -f=${db:Status-Abbrev}${Version}\\n -- tend-hello", "apt-cache policy -- tend-hello"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "calls"))
			st, err := probeState(t, Package{}, obj(tt.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantCalls, calls(t, dir)); d != "" {
				t.Errorf("commands run (-want +got):\n%s", d)
			}
			if st.Present != tt.present || st.Str("version") != tt.version || st.Str("candidate") != tt.candidate || st.Str("provider") != "apt" {
				t.Errorf("state %+v", st)
			}
		})
	}
}

func TestProbeNoPackageManager(t *testing.T) {
	fakeBin(t, true, map[string]string{})
	_, err := probeState(t, Package{}, obj(map[string]cty.Value{"name": cty.StringVal("x")}))
	if err == nil || !strings.Contains(err.Error(), "no supported package manager (apt-get, dnf, yum, zypper, apk, pacman) found on this host") {
		t.Errorf("error %v", err)
	}
	_, err = probeState(t, Package{}, obj(map[string]cty.Value{"name": cty.StringVal("x"), "provider": cty.StringVal("zypper")}))
	if err == nil || !strings.Contains(err.Error(), "provider zypper: zypper is not installed on this host") {
		t.Errorf("error %v", err)
	}
}

// TestAPK runs the contract timeline through the apk provider against a
// stand-in apk (testdata/fake-apk, which keeps apk's output formats and
// installed database): the probe's shell, the parsing, the transaction
// commands (add -u for latest, name=version pins, del) and the rollback
// are exercised; apk itself cannot run here.
func TestAPK(t *testing.T) {
	fake, err := os.ReadFile("testdata/fake-apk")
	if err != nil {
		t.Fatal(err)
	}
	dir := fakeBin(t, false, map[string]string{"apk": string(fake)})
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "apk.repo"), []byte("tend-dep 1.0-r0\ntend-hello 1.0-r0\ntend-hello 2.0-r0 tend-dep\ntend-other 1.0-r0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	installed := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(root, "lib/apk/db/installed"))
		for _, blk := range strings.Split(string(b), "\n\n") {
			if strings.HasPrefix(blk, "P:"+name+"\n") {
				return strings.TrimPrefix(strings.Split(blk, "\n")[1], "V:")
			}
		}
		return ""
	}
	pkgtest.Run(t, local.New(), &resources.Host{Name: "local", T: local.New()}, Package{root: root},
		versionsSteps(t, "apk", "1.0-r0", "2.0-r0", "1.0-r0", installed))
	if t.Failed() {
		return
	}
	var apkCalls []string
	for _, c := range calls(t, dir) {
		if strings.Contains(c, " add ") || strings.Contains(c, " del ") {
			apkCalls = append(apkCalls, c)
		}
	}
	r := "apk --root " + root + " --wait 60 "
	want := []string{
		// install, its revert, the apply after the revert
		r + "add -- tend-other", r + "del -- tend-other", r + "add -- tend-other",
		// pin
		r + "add -- tend-hello=1.0-r0", r + "del -- tend-hello", r + "add -- tend-hello=1.0-r0",
		// latest: the revert reinstalls 1.0 and removes the dependency
		// the upgrade pulled in
		r + "add -u -- tend-hello", r + "add -- tend-hello=1.0-r0", r + "del -- tend-dep", r + "add -u -- tend-hello",
		// downgrade
		r + "add -- tend-hello=1.0-r0", r + "add -- tend-hello=2.0-r0", r + "add -- tend-hello=1.0-r0",
		// absent
		r + "del -- tend-hello", r + "add -- tend-hello=1.0-r0", r + "del -- tend-hello",
	}
	if d := cmp.Diff(want, apkCalls); d != "" {
		t.Errorf("apk changes (-want +got):\n%s", d)
	}
}

func TestTxnCommands(t *testing.T) {
	ops := []op{
		{Kind: opVersion, Name: "a", Version: "1.0-1", Installed: true, Candidate: "2.0-1"},
		{Kind: opInstall, Name: "b"},
		{Kind: opLatest, Name: "c", Installed: true},
		{Kind: opRemove, Name: "d", Installed: true},
	}
	rm := []op{{Kind: opRemove, Name: "d"}, {Kind: opRemove, Name: "e"}}
	tests := map[string]struct {
		p    provider
		ops  []op
		want string
	}{
		"apt": {p: apt{}, ops: ops,
			want: "apt-get -q -y -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --allow-downgrades install 'a=1.0-1' b c d-\n"},
		"apt remove": {p: apt{}, ops: rm,
			want: "apt-get -q -y -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold remove d e\n"},
		"dnf": {p: dnf{bin: "dnf"}, ops: ops, want: `case $(readlink -f "$(command -v dnf)" 2>/dev/null) in
*dnf5*) dnf -y install a-1.0-1 b && dnf -y upgrade c && dnf -y remove d;;
*) printf '%s\n' 'install a-1.0-1 b' 'upgrade c' 'remove d' run | dnf -y shell;;
esac
`},
		"dnf one verb":  {p: dnf{bin: "yum"}, ops: rm, want: "yum -y remove d e\n"},
		"zypper":        {p: zypper{}, ops: ops, want: "zypper -n install --oldpackage -- 'a=1.0-1' b c '-d'\n"},
		"zypper remove": {p: zypper{}, ops: rm, want: "zypper -n remove -- d e\n"},
		"apk":           {p: apk{}, ops: ops, want: "apk --wait 60 add -u -- 'a=1.0-1' b c && apk --wait 60 del -- d\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.p.txnSh("", tt.ops)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	// pacman: a pin to the repository's version is -S; another comes from
	// the cache (-U); removals are -R.
	got := pacman{}.txnSh("", []op{
		{Kind: opVersion, Name: "a", Version: "1.0-1", Candidate: "2.0-1"},
		{Kind: opVersion, Name: "b", Version: "2.0-1", Candidate: "2.0-1"},
		{Kind: opLatest, Name: "c"},
		{Kind: opRemove, Name: "d"},
	})
	for _, want := range []string{
		"pacman --noconfirm -S --needed b c && pacman --noconfirm -U \"$@\" && pacman --noconfirm -R d\n",
		`for f in "${c%/}/"a-1.0-1-*.pkg.tar*; do`,
		"while [ -e /var/lib/pacman/db.lck ]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("pacman transaction lacks %q:\n%s", want, got)
		}
	}
}

func TestChangeThen(t *testing.T) {
	c := newChange()
	c.Removed["a 1.0"] = true
	c.Added["a 2.0"] = true
	c.Added["dep 1.0"] = true
	d := newChange()
	d.Removed["dep 1.0"] = true // added then removed: nothing
	d.Added["b 1.0"] = true
	d.Removed["a 2.0"] = true
	d.Added["a 3.0"] = true
	c.then(d)
	want := &change{Known: true, Removed: map[string]bool{"a 1.0": true}, Added: map[string]bool{"a 3.0": true, "b 1.0": true}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestExtras(t *testing.T) {
	ch := newChange()
	for _, l := range []string{"tend-hello 1.0", "libold 1.0", "libx:i386 1.0"} {
		ch.Removed[l] = true
	}
	for _, l := range []string{"tend-hello 2.0", "tend-dep 1.0", "libx:i386 1.1"} {
		ch.Added[l] = true
	}
	undo := resources.Undo{}
	recordExtras(undo, ch, []op{{Kind: opLatest, Name: "tend-hello"}})
	want := resources.Undo{"added": "tend-dep 1.0", "removed": "libold 1.0", "changed": "libx:i386 1.0 1.1"}
	if d := cmp.Diff(want, undo); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	got := extraOps(undo)
	wantOps := []op{
		{Kind: opRemove, Name: "tend-dep", Installed: true},
		{Kind: opVersion, Name: "libold", Version: "1.0"},
		{Kind: opVersion, Name: "libx:i386", Version: "1.0", Installed: true},
	}
	if d := cmp.Diff(wantOps, got); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
}

// TestCheck: a transaction that exits 0 but skipped a request (dnf shell
// does) fails that item with the manager's words.
func TestCheck(t *testing.T) {
	before := &resources.State{Present: true, Attrs: map[string]cty.Value{"installed": cty.StringVal("1.0-1")}}
	ch := newChange()
	err := check(dnf{bin: "dnf"}, op{Kind: opLatest, Name: "tend-hello", Version: "2.0-1", Installed: true}, before, ch, false,
		"Skipped:\n  tend-hello-2.0-1.noarch\nComplete!\n")
	// The manager's words go under the error, not in it.
	if stderr, _ := resources.Detail(err); err == nil || err.Error() != "dnf did not upgrade tend-hello to 2.0-1 (it is at 1.0-1)" || !strings.Contains(string(stderr), "Skipped:\n  tend-hello-2.0-1.noarch") {
		t.Errorf("error %v, stderr %q", err, stderr)
	}
	ch.Removed["tend-hello 1.0-1"] = true
	ch.Added["tend-hello 2.0-1"] = true
	if err := check(dnf{bin: "dnf"}, op{Kind: opLatest, Name: "tend-hello", Version: "2.0-1", Installed: true}, before, ch, false, ""); err != nil {
		t.Error(err)
	}
	if err := check(apt{}, op{Kind: opRemove, Name: "tend-hello"}, before, ch, false, ""); err == nil {
		t.Error("a removal that left the package installed passed")
	}
}

func TestResolveAndIrreversible(t *testing.T) {
	s := cty.StringVal
	cur := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"name": s("tend-hello"), "provider": s("apt"), "version": s("1.0"), "installed": s("1.0"),
		"candidate": s("2.0"), "available": cty.ListVal([]cty.Value{s("2.0")}),
	}}
	typ := Package{}
	resolve := func(cfg map[string]cty.Value) (*resources.State, error) {
		c := obj(cfg)
		d, err := typ.Desired(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return typ.Resolve(c, cur, d)
	}
	d, err := resolve(map[string]cty.Value{"name": s("tend-hello"), "state": s("latest")})
	if err != nil || d.Str("version") != "2.0" {
		t.Fatalf("latest: %v %v", d, err)
	}
	if act, _ := plan.Diff(cur, d); act != plan.Update {
		t.Errorf("latest: %s, want update", act)
	}
	// 1.0 is installed but no longer offered: the upgrade cannot be
	// reverted, nor can a removal.
	if msg := typ.Irreversible(cur, d); msg != "the installed version 1.0 of tend-hello is no longer offered by the host's package sources (available: 2.0), so it could not be reinstalled" {
		t.Errorf("irreversible: %q", msg)
	}
	if msg := typ.Irreversible(cur, &resources.State{Attrs: map[string]cty.Value{"name": s("tend-hello")}}); msg == "" {
		t.Error("removing a version no longer offered is reversible?")
	}
	if msg := typ.Irreversible(&resources.State{Attrs: map[string]cty.Value{"name": s("tend-hello")}}, d); msg != "" {
		t.Errorf("an install is irreversible: %q", msg)
	}
	_, err = resolve(map[string]cty.Value{"name": s("tend-hello"), "version": s("3.0")})
	if err == nil || err.Error() != `version "3.0" of tend-hello is not available from the host's package sources (available: 2.0); if the package index is out of date, set update_cache = true` {
		t.Errorf("unavailable pin: %v", err)
	}
	if _, err := resolve(map[string]cty.Value{"name": s("tend-hello"), "version": s("3.0"), "update_cache": cty.True}); err != nil {
		t.Errorf("with update_cache the pin waits for the refresh: %v", err)
	}
	if _, err := resolve(map[string]cty.Value{"name": s("tend-hello"), "version": s("1.0")}); err != nil {
		t.Errorf("the installed pin: %v", err)
	}
}

// fakeDpkgQuery answers like dpkg-query from dpkg's status letters:
// tend-hello installed, tend-old removed with its configuration files
// kept, libx for two architectures; -W -f=FORMAT -- NAMES lists the names
// (with ${Package} in FORMAT: "STATUS NAME VERSION") and says on stderr
// which it does not know, failing then, as dpkg-query does.
const fakeDpkgQuery = `fmt= names=
while [ $# -gt 0 ]; do case $1 in -f=*) fmt=${1#-f=};; --) shift; names=$*; break;; esac; shift; done
rc=0
for n in $names; do
	found=
	for l in 'ii tend-hello 1.0' 'ii libx 2.1' 'ii libx 2.1' 'rc tend-old 0.9'; do
		set -- $l
		[ "$2" = "$n" ] || continue
		found=1
		case $fmt in *Package*) echo "$1 $2 $3" ;; *) echo "$1 $3" ;; esac
	done
	[ -n "$found" ] || { echo "dpkg-query: no packages found matching $n" >&2; rc=1; }
done
exit $rc`

// TestProbePrelude: with the prelude run once in the probe script's own
// shell, the fragments of several packages read one answer (one
// dpkg-query for the host, asking for those packages only) and find the
// same states as without it; an answer the prelude does not recognise is
// not used.
func TestProbePrelude(t *testing.T) {
	typ := Package{}
	names := []string{"tend-hello", "tend-old", "libx", "tend-none"}
	cfgs := map[string]cty.Value{}
	for _, n := range names {
		cfgs[n] = obj(map[string]cty.Value{"name": cty.StringVal(n)})
	}
	want := map[string]string{"tend-hello": "1.0", "tend-old": "", "libx": "2.1", "tend-none": ""}
	read := func(t *testing.T, withPrelude bool) map[string]string {
		var list []cty.Value
		for _, n := range names {
			list = append(list, cfgs[n])
		}
		got := map[string]string{}
		for i, st := range probeAll(t, typ, list, withPrelude) {
			got[names[i]] = st.Str("installed")
		}
		return got
	}
	count := func(t *testing.T, dir string) (n int) {
		for _, c := range calls(t, dir) {
			if strings.HasPrefix(c, "dpkg-query") {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name string
		// extra is sh the fake runs first when it is given several names.
		extra string
		calls int
	}{
		{name: "answered", calls: 1},
		{name: "unexpected line", extra: `echo 'dpkg-query: error: parsing file /var/lib/dpkg/status' >&2`, calls: 1 + len(names)},
		{name: "fails silently", extra: `exit 2`, calls: 1 + len(names)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fakeDpkgQuery
			if tc.extra != "" {
				body = "case $* in *'-- '*' '*) " + tc.extra + ";; esac\n" + body
			}
			dir := fakeBin(t, false, map[string]string{"dpkg-query": body, "apt-cache": "exit 0", "apt-get": "exit 0"})
			if d := cmp.Diff(want, read(t, false)); d != "" {
				t.Errorf("without the prelude (-want +got):\n%s", d)
			}
			if n := count(t, dir); n != len(names) {
				t.Errorf("dpkg-query ran %d times without the prelude, want %d", n, len(names))
			}
			os.Remove(filepath.Join(dir, "calls"))
			if d := cmp.Diff(want, read(t, true)); d != "" {
				t.Errorf("with the prelude (-want +got):\n%s", d)
			}
			if n := count(t, dir); n != tc.calls {
				t.Errorf("dpkg-query ran %d times with the prelude, want %d", n, tc.calls)
			}
			if cs := calls(t, dir); len(cs) == 0 || !strings.HasSuffix(cs[0], "-- libx tend-hello tend-none tend-old") {
				t.Errorf("the prelude's query: %q, want the four names, sorted", cs)
			}
		})
	}
}

// TestSnapshotFailure: a transaction whose list of installed packages
// cannot be taken does not run; one whose second list comes back empty
// records nothing to undo (an empty list taken for a real one would have
// a rollback remove every package).
func TestSnapshotFailure(t *testing.T) {
	before := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal("tend-other"), "provider": cty.StringVal("apt")}}
	after := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("tend-other")}}
	host := &resources.Host{Name: "local", T: local.New()}

	dir := fakeBin(t, false, map[string]string{
		"dpkg-query": "echo 'dpkg-query: error: parsing file /var/lib/dpkg/status' >&2; exit 2",
		"apt-get":    "exit 0",
	})
	_, err := Package{}.Apply(context.Background(), host, before, after)
	if err == nil || !strings.Contains(err.Error(), "listing the installed packages failed") {
		t.Errorf("apply with a failing dpkg-query: %v", err)
	}
	for _, c := range calls(t, dir) {
		if strings.HasPrefix(c, "apt-get") {
			t.Errorf("apt-get ran: %s", c)
		}
	}

	// The first list has packages, the second is empty.
	dir = fakeBin(t, false, map[string]string{
		"dpkg-query": `if [ -e "$(dirname "$0")/done" ]; then exit 0; fi; echo 'ii |tend-base 1.0'`,
		"apt-get":    `touch "$(dirname "$0")/done"`,
	})
	undo, err := Package{}.Apply(context.Background(), host, before, after)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(resources.Undo{"provider": "apt", "name": "tend-other"}, undo); d != "" {
		t.Errorf("undo (-want +got):\n%s", d)
	}
	_ = dir
}

// fakeAptCache answers apt-cache policy -- NAMES like apt-cache: a block
// per package its index has (tend-hello 1.0 installed and 3.0
// available, tend-old 1.0, libx 2.1 installed and 2.2), nothing for
// the others.
const fakeAptCache = `[ "$1 $2" = "policy --" ] || exit 100
shift 2
for n in "$@"; do case $n in
tend-hello) printf '%s\n' 'tend-hello:' '  Installed: 1.0' '  Candidate: 3.0' '  Version table:' '     3.0 500' '        500 file:/srv/tend-repo ./ Packages' ' *** 1.0 100' '        100 /var/lib/dpkg/status' ;;
tend-old) printf '%s\n' 'tend-old:' '  Installed: (none)' '  Candidate: 1.0' '  Version table:' '     1.0 500' '        500 file:/srv/tend-repo ./ Packages' ;;
libx) printf '%s\n' 'libx:' '  Installed: 2.1' '  Candidate: 2.2' '  Version table:' '     2.2 500' '        500 http://deb.example ./ Packages' ' *** 2.1 500' '        500 http://deb.example ./ Packages' '        100 /var/lib/dpkg/status' ;;
esac; done`

// TestIndexPrelude: the packages whose plan needs apt's index (a pin
// other than the installed version, one not installed, state latest)
// are asked for in one apt-cache policy by the prelude, and their
// fragments read the same states from it as from a query each; those
// that do not need it (absent and not installed) are not asked for. An
// answer with a line the prelude does not expect, or a failing
// apt-cache, is not used: each fragment asks for itself.
func TestIndexPrelude(t *testing.T) {
	typ := Package{}
	s := cty.StringVal
	cfgs := []cty.Value{
		obj(map[string]cty.Value{"name": s("tend-hello"), "version": s("3.0")}),
		obj(map[string]cty.Value{"name": s("tend-old")}),
		obj(map[string]cty.Value{"name": s("libx"), "state": s("latest")}),
		obj(map[string]cty.Value{"name": s("tend-none")}),
		obj(map[string]cty.Value{"name": s("tend-gone"), "state": s("absent")}),
	}
	read := func(t *testing.T, withPrelude bool) []string {
		var got []string
		for _, st := range probeAll(t, typ, cfgs, withPrelude) {
			got = append(got, fmt.Sprintf("%#v", st.Attrs))
		}
		return got
	}
	aptCalls := func(t *testing.T, dir string) (cs []string) {
		for _, c := range calls(t, dir) {
			if strings.HasPrefix(c, "apt-cache") {
				cs = append(cs, c)
			}
		}
		_ = os.Remove(filepath.Join(dir, "calls"))
		return cs
	}
	for _, tc := range []struct {
		name string
		// extra is sh the fake runs first when it is given several names.
		extra string
		calls int
	}{
		{name: "answered", calls: 1},
		{name: "unexpected line", extra: `echo 'W: the package index is stale'`, calls: 1 + 4},
		{name: "fails", extra: `echo 'E: could not open the cache' >&2; exit 100`, calls: 1 + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fakeAptCache
			if tc.extra != "" {
				body = "case $* in *'-- '*' '*) " + tc.extra + ";; esac\n" + body
			}
			dir := fakeBin(t, false, map[string]string{"dpkg-query": fakeDpkgQuery, "apt-cache": body, "apt-get": "exit 0"})
			want := read(t, false)
			if cs := aptCalls(t, dir); len(cs) != 4 {
				t.Fatalf("without the prelude apt-cache ran %d times, want 4 (every package but the absent one): %q", len(cs), cs)
			}
			if !strings.Contains(want[0], `"candidate":cty.StringVal("3.0")`) || !strings.Contains(want[2], `"candidate":cty.StringVal("2.2")`) {
				t.Fatalf("the fake index was not read: %q", want)
			}
			got := read(t, true)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("with the prelude (-query each +prelude):\n%s", d)
			}
			cs := aptCalls(t, dir)
			if len(cs) != tc.calls {
				t.Errorf("with the prelude apt-cache ran %d times, want %d: %q", len(cs), tc.calls, cs)
			}
			if len(cs) == 0 || cs[0] != "apt-cache policy -- tend-hello tend-old libx tend-none" {
				t.Errorf("the prelude's query: %q, want the four packages that need the index", cs)
			}
		})
	}
}

// probeAll reads the packages cfgs in one probe script on this machine,
// with the prelude or with each fragment querying for itself.
func probeAll(t *testing.T, typ Package, cfgs []cty.Value, withPrelude bool) []*resources.State {
	t.Helper()
	var frags []probe.Fragment
	for i, cfg := range cfgs {
		f := probe.Fragment{ID: fmt.Sprint(i), Script: typ.Probe(cfg, nil)}
		if withPrelude {
			f.Prelude, f.Config = typ, cfg
		}
		frags = append(frags, f)
	}
	res, err := local.New().Run(context.Background(), transport.Command{Script: probe.Script("n0nce", false, frags)})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := probe.Parse("n0nce", false, frags, res.Stdout)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, res.Stdout, res.Stderr)
	}
	var out []*resources.State
	for i, cfg := range cfgs {
		st, err := typ.Read(cfg, parsed.Outputs[fmt.Sprint(i)])
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		out = append(out, st)
	}
	return out
}

// TestTxnChangeError: a failed transaction, run by real sh with a fake
// apt-get, fails the package's change with its action, its name and the
// package manager's error line as the cause; the rest of its output is
// kept under it.
func TestTxnChangeError(t *testing.T) {
	before := &resources.State{Attrs: map[string]cty.Value{"name": cty.StringVal("tend-nosuch"), "provider": cty.StringVal("apt")}}
	after := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("tend-nosuch")}}
	host := &resources.Host{Name: "local", T: local.New()}
	fakeBin(t, false, map[string]string{
		"dpkg-query": "echo 'ii |tend-base 1.0'",
		"apt-get":    "echo 'Reading package lists...'; echo 'W: something else'; echo 'E: Unable to locate package tend-nosuch' >&2; exit 100",
	})
	_, err := Package{}.Apply(context.Background(), host, before, after)
	var ce *resources.ChangeError
	if !errors.As(err, &ce) || ce.Error() != "install tend-nosuch: apt failed (exit status 100): E: Unable to locate package tend-nosuch" ||
		!strings.Contains(string(ce.Stderr), "W: something else") || strings.Contains(string(ce.Stderr), "Unable to locate") {
		t.Errorf("error %v (%T)", err, err)
		if ce != nil {
			t.Logf("stderr %q", ce.Stderr)
		}
	}
}
