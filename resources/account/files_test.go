package account

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePasswd(t *testing.T) {
	cases := map[string]struct {
		line    string
		want    passwdEntry
		wantErr string
	}{
		"full":          {line: "deploy:x:1001:1002:Deploy User,,,:/home/deploy:/bin/bash", want: passwdEntry{"deploy", 1001, "1002", "Deploy User,,,", "/home/deploy", "/bin/bash"}},
		"empty fields":  {line: "svc:x:998:998:::", want: passwdEntry{Name: "svc", UID: 998, GID: "998"}},
		"spaces, stars": {line: "o:x:5:5:a * b $x:/h o:/bin/sh", want: passwdEntry{"o", 5, "5", "a * b $x", "/h o", "/bin/sh"}},
		"too few":       {line: "a:x:1:1:/h:/bin/sh", wantErr: "6 fields"},
		"too many":      {line: "a:x:1:1:c:/h:/bin/sh:x", wantErr: "8 fields"},
		"bad uid":       {line: "a:x:one:1:c:/h:/bin/sh", wantErr: "uid"},
		"negative uid":  {line: "a:x:-1:1:c:/h:/bin/sh", wantErr: "uid"},
		"bad gid":       {line: "a:x:1::c:/h:/bin/sh", wantErr: "gid"},
	}
	for name, c := range cases {
		got, err := parsePasswd(c.line)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want %q", name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestParseGroup(t *testing.T) {
	cases := map[string]struct {
		line    string
		want    groupEntry
		wantErr bool
	}{
		"members":      {line: "sudo:x:27:alice,bob", want: groupEntry{"sudo", "27", []string{"alice", "bob"}}},
		"no members":   {line: "deploy:x:1001:", want: groupEntry{Name: "deploy", GID: "1001"}},
		"empty items":  {line: "g:x:5:,a,,b,", want: groupEntry{"g", "5", []string{"a", "b"}}},
		"missing list": {line: "g:x:5", wantErr: true},
		"bad gid":      {line: "g:x:x:", wantErr: true},
	}
	for name, c := range cases {
		got, err := parseGroup(c.line)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v", name, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); !c.wantErr && diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestParseShadow(t *testing.T) {
	e, err := parseShadow("deploy:$y$j9T$salt$hash:19000:0:99999:7:::")
	if err != nil {
		t.Fatal(err)
	}
	if e.Hash != "$y$j9T$salt$hash" || e.AgingString() != "19000:0:99999:7::" {
		t.Errorf("got %+v", e)
	}
	e, err = parseShadow("locked:!::::::1:")
	if err != nil || e.Hash != "!" || e.AgingString() != ":::::1" {
		t.Errorf("got %+v, %v", e, err)
	}
	for _, bad := range []string{"deploy:$6$secret$hash:19000:0:99999:7::", "deploy:$6$secret$hash:x:0:99999:7:::"} {
		_, err := parseShadow(bad)
		if err == nil {
			t.Errorf("%q: no error", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the hash: %v", err)
		}
	}
}

func TestParseGshadow(t *testing.T) {
	e, err := parseGshadow("adm:!:root:alice,bob")
	if err != nil {
		t.Fatal(err)
	}
	want := gshadowEntry{"adm", "!", []string{"root"}, []string{"alice", "bob"}}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Error(diff)
	}
	if _, err := parseGshadow("adm:!:root"); err == nil {
		t.Error("short line accepted")
	}
}

func TestParseSubID(t *testing.T) {
	for line, want := range map[string]string{"deploy:100000:65536": "100000-165535", "1001:5:1": "5-5"} {
		if got, err := parseSubID(line); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", line, got, err, want)
		}
	}
	for _, bad := range []string{"deploy:100000", "d:x:1", "d:1:0"} {
		if _, err := parseSubID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"deploy", "www-data", "a.b", "_svc", "machine$", "A1"} {
		if err := checkName("name", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-rf", "a:b", "a b", "a\nb", "123", "a,b", "a/b", "$x", "a$b", "..", strings.Repeat("a", 33), "+nis", "é"} {
		if err := checkName("name", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
