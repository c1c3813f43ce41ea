package lab

import (
	"strings"
	"testing"
)

func TestInitRecipes(t *testing.T) {
	sd, sysv, orc := baseRecipe(""), baseRecipe(InitSysVinit), baseRecipe(InitOpenRC)
	if sd.hash() != bookworm().hash() || baseRecipe(InitSystemd).hash() != sd.hash() {
		t.Error("the default base is not the systemd one")
	}
	if sd.hash() == sysv.hash() || sysv.hash() == orc.hash() || sd.hash() == orc.hash() {
		t.Error("init systems share a base image")
	}
	for _, r := range []recipe{sysv, orc} {
		pkgs := strings.Join(r.Packages, " ")
		if strings.Contains(pkgs, "systemd") || !strings.Contains(pkgs, "sysvinit-core") {
			t.Errorf("packages %s", pkgs)
		}
		for name := range r.Files {
			if strings.HasPrefix(name, "etc/systemd/") {
				t.Errorf("systemd file %s in a non-systemd base", name)
			}
		}
	}
	if len(sysv.Commands) >= len(orc.Commands) || !strings.Contains(strings.Join(orc.Commands[len(orc.Commands)-4], " "), "openrc") {
		t.Errorf("the OpenRC recipe does not install openrc: %v", orc.Commands)
	}
	// Building the OpenRC recipe must not have changed the sysvinit one.
	if sysv.hash() != sysvinitBookworm().hash() {
		t.Error("openrcBookworm modified the sysvinit recipe")
	}
}

func TestInitBootScripts(t *testing.T) {
	if bootScriptFor("") != bootScript || bootScriptFor(InitSystemd) != bootScript {
		t.Error("the systemd boot script changed")
	}
	for _, init := range []string{InitSysVinit, InitOpenRC} {
		s := bootScriptFor(init)
		if !strings.HasSuffix(s, "\t/sbin/init\n") || !strings.Contains(s, "container=lxc") || strings.Contains(s, "/lib/systemd/systemd") {
			t.Errorf("%s boot script:\n%s", init, s)
		}
		// Everything up to the exec is the systemd host's.
		i := strings.LastIndex(bootScript, "exec /usr/bin/env -i ")
		if !strings.HasPrefix(s, bootScript[:i]) {
			t.Errorf("%s boot script does not share the namespace setup", init)
		}
	}
	for _, bad := range []string{"upstart", "runit", "SYSTEMD"} {
		if _, err := (Options{Init: bad}).withDefaults(); err == nil {
			t.Errorf("Init %q accepted", bad)
		}
	}
	for _, ok := range []string{"", InitSystemd, InitSysVinit, InitOpenRC} {
		if _, err := (Options{Init: ok}).withDefaults(); err != nil {
			t.Errorf("Init %q: %v", ok, err)
		}
	}
}
