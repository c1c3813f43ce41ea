package account

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

func TestGroupProbeRead(t *testing.T) {
	fixtures(t, etcFiles)
	s := cty.StringVal
	cases := map[string]struct {
		name string
		want map[string]string
	}{
		"with gshadow": {name: "web", want: map[string]string{
			"name": `cty.StringVal("web")`, "gid": "cty.NumberIntVal(33)",
			"members":       `cty.ListVal([]cty.Value{cty.StringVal("alice"), cty.StringVal("bob"), cty.StringVal("deploy")})`,
			"admins":        `cty.ListVal([]cty.Value{cty.StringVal("alice")})`,
			"password_hash": `(sensitive) cty.StringVal("$6$gsalt$ghash")`,
		}},
		"no gshadow line, no members": {name: "deploy", want: map[string]string{
			"name": `cty.StringVal("deploy")`, "gid": "cty.NumberIntVal(1001)", "members": "cty.ListValEmpty(cty.String)",
		}},
	}
	for name, c := range cases {
		st, err := probeRead(t, Group{}, object(Group{}, map[string]cty.Value{"name": s(c.name)}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := show(st.Attrs)
		if !st.Present || len(got) != len(c.want) {
			t.Errorf("%s: present %v, attrs %v", name, st.Present, got)
		}
		for k, want := range c.want {
			if got[k] != want {
				t.Errorf("%s: %s = %s, want %s", name, k, got[k], want)
			}
		}
	}
	if st, err := probeRead(t, Group{}, object(Group{}, map[string]cty.Value{"name": s("dep")})); err != nil || st.Present {
		t.Errorf("a prefix of a name: %+v %v", st, err)
	}
	if _, err := probeRead(t, Group{}, object(Group{}, map[string]cty.Value{"name": s("broken")})); err == nil {
		t.Error("a malformed line was read without error")
	}
}

func TestGroupDesired(t *testing.T) {
	s := cty.StringVal
	st, err := Group{}.Desired(object(Group{}, map[string]cty.Value{"name": s("admins"), "gid": cty.NumberIntVal(1500), "members": resources.StringList([]string{"bob", "alice", "bob"})}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := show(st.Attrs)["members"]; got != `cty.ListVal([]cty.Value{cty.StringVal("alice"), cty.StringVal("bob")})` {
		t.Errorf("members %s", got)
	}
	for name, c := range map[string]struct {
		config map[string]cty.Value
		attr   string
	}{
		"no name":     {map[string]cty.Value{}, "name"},
		"bad gid":     {map[string]cty.Value{"name": s("g"), "gid": cty.NumberFloatVal(-3)}, "gid"},
		"bad member":  {map[string]cty.Value{"name": s("g"), "members": resources.StringList([]string{"a,b"})}, "members"},
		"bad state":   {map[string]cty.Value{"name": s("g"), "state": s("no")}, "state"},
		"colon name":  {map[string]cty.Value{"name": s("g:x")}, "name"},
		"dash member": {map[string]cty.Value{"name": s("g"), "members": resources.StringList([]string{"-A"})}, "members"},
	} {
		_, err := Group{}.Desired(object(Group{}, c.config), nil)
		var ae *resources.AttrError
		if !errors.As(err, &ae) || ae.Attr != c.attr {
			t.Errorf("%s: %v, want an AttrError on %s", name, err, c.attr)
		}
	}
}

func TestGroupCommands(t *testing.T) {
	s := cty.StringVal
	cur := state(true, map[string]cty.Value{"name": s("web"), "gid": cty.NumberIntVal(33), "members": resources.StringList([]string{"alice", "deploy"}),
		"admins": resources.StringList([]string{"alice"}), "password_hash": s("$6$OLD$HASH").Mark(resources.Sensitive)})
	want := state(true, map[string]cty.Value{"name": s("web"), "gid": cty.NumberIntVal(3300), "members": resources.StringList([]string{"bob"})})
	gone := state(false, map[string]cty.Value{"name": s("web")})
	created := state(true, map[string]cty.Value{"name": s("web"), "gid": cty.NumberIntVal(3300), "system": cty.True, "members": resources.StringList([]string{"a", "b"})})
	absent := state(false, map[string]cty.Value{"name": s("web")})
	cases := map[string]struct {
		run      func(h *resources.Host) error
		contains []string
		stdin    string
	}{
		"create": {run: func(h *resources.Host) error {
			_, err := Group{}.Apply(context.Background(), h, absent, created)
			return err
		},
			contains: []string{`groupadd -g 3300 -r -- "$n"`, `gpasswd -M a,b -- "$n"`}},
		"update": {run: func(h *resources.Host) error { _, err := Group{}.Apply(context.Background(), h, cur, want); return err },
			contains: []string{`groupmod -g 3300 -- "$n"`, `gpasswd -M bob -- "$n"`}},
		"delete": {run: func(h *resources.Host) error { _, err := Group{}.Apply(context.Background(), h, cur, gone); return err },
			contains: []string{`groupdel -- "$n"`}},
		"revert update": {run: func(h *resources.Host) error { return Group{}.Revert(context.Background(), h, cur, want, nil) },
			contains: []string{`groupmod -g 33 -- "$n"`, `gpasswd -M alice,deploy -- "$n"`}},
		"revert delete": {run: func(h *resources.Host) error {
			return Group{}.Revert(context.Background(), h, cur, gone, resources.Undo{"password_hash": "$6$OLD$HASH"})
		},
			contains: []string{`groupadd -g 33 -- "$n"`, `gpasswd -M alice,deploy -- "$n"`, `gpasswd -A alice -- "$n"`, "| chgpasswd -e"},
			stdin:    "web:$6$OLD$HASH\n"},
		"revert create": {run: func(h *resources.Host) error {
			return Group{}.Revert(context.Background(), h, absent, created, resources.Undo{"created": "1"})
		},
			contains: []string{`groupdel -- "$n"`}},
	}
	for name, c := range cases {
		rec := &fakeTransport{}
		if err := c.run(&resources.Host{T: rec}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(rec.scripts) != 1 {
			t.Fatalf("%s: %d scripts", name, len(rec.scripts))
		}
		for _, w := range c.contains {
			if !strings.Contains(rec.scripts[0], w) {
				t.Errorf("%s: the script lacks %q:\n%s", name, w, rec.scripts[0])
			}
		}
		if strings.Contains(rec.scripts[0], "OLD") {
			t.Errorf("%s: the hash is in the script", name)
		}
		if rec.stdins[0] != c.stdin {
			t.Errorf("%s: stdin %q, want %q", name, rec.stdins[0], c.stdin)
		}
	}
}

// TestGroupApplyFailureUndone: a change failing part-way is undone at
// once: the revert script runs after the failed one.
func TestGroupApplyFailureUndone(t *testing.T) {
	s := cty.StringVal
	rec := &fakeTransport{fail: map[int]bool{0: true}, out: map[int]string{0: "undo created 1\n"}}
	absent := state(false, map[string]cty.Value{"name": s("web")})
	created := state(true, map[string]cty.Value{"name": s("web"), "members": resources.StringList([]string{"nosuchuser"})})
	_, err := Group{}.Apply(context.Background(), &resources.Host{T: rec}, absent, created)
	if err == nil || !strings.Contains(err.Error(), "the part done was undone") {
		t.Errorf("error %v", err)
	}
	if len(rec.scripts) != 2 || !strings.Contains(rec.scripts[1], `groupdel -- "$n"`) {
		t.Errorf("scripts run: %q", rec.scripts)
	}
}
