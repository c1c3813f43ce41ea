package db

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
)

// cfgOf builds a configuration object with every schema attribute (null
// unless given), as the language hands it to a type.
func cfgOf(s *resources.Schema, kv map[string]cty.Value) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range s.Attributes {
		if v, ok := kv[a.Name]; ok {
			attrs[a.Name] = v
		} else {
			attrs[a.Name] = cty.NullVal(a.Type)
		}
	}
	return cty.ObjectVal(attrs)
}

func TestUserDesiredErrors(t *testing.T) {
	s := User{}.Schema()
	cases := []struct {
		kv   map[string]cty.Value
		attr string
		msg  string
	}{
		{map[string]cty.Value{"engine": cty.StringVal("db2"), "name": cty.StringVal("a")}, "engine", `unknown engine "db2"`},
		{map[string]cty.Value{"engine": cty.StringVal("mariadb"), "name": cty.StringVal("a"), "createdb": cty.True}, "createdb", "not an attribute of mariadb"},
		{map[string]cty.Value{"engine": cty.StringVal("postgresql"), "name": cty.StringVal("a"), "host": cty.StringVal("%")}, "host", "not an attribute of postgresql"},
		{map[string]cty.Value{"engine": cty.StringVal("postgresql"), "name": cty.StringVal("a"), "state": cty.StringVal("gone")}, "state", "must be"},
		{map[string]cty.Value{"engine": cty.StringVal("postgresql"), "name": cty.StringVal("a"), "address": cty.StringVal("127.0.0.1:5432"), "become_user": cty.StringVal("postgres")}, "become_user", "Unix socket"},
		{map[string]cty.Value{"engine": cty.StringVal("mariadb"), "name": cty.StringVal("a"), "auth_plugin": cty.StringVal("ed25519"), "password": cty.StringVal("x")}, "password", "not ed25519"},
		{map[string]cty.Value{"engine": cty.StringVal("oracle"), "name": cty.StringVal("a")}, "admin_database", "service name"},
	}
	for _, c := range cases {
		_, err := User{}.Desired(cfgOf(s, c.kv), nil)
		ae, ok := err.(*resources.AttrError)
		if !ok || ae.Attr != c.attr || !strings.Contains(ae.Msg, c.msg) {
			t.Errorf("%v: error %v, want %s: ...%s...", c.kv, err, c.attr, c.msg)
		}
	}
}

func TestGrantDesiredErrors(t *testing.T) {
	s := Grant{}.Schema()
	pg := func(kv map[string]cty.Value) map[string]cty.Value {
		kv["engine"], kv["role"] = cty.StringVal("postgresql"), cty.StringVal("app")
		return kv
	}
	cases := []struct {
		kv   map[string]cty.Value
		attr string
		msg  string
	}{
		{pg(map[string]cty.Value{"on": cty.StringVal("tables"), "database": cty.StringVal("d"), "privileges": resources.StringList([]string{"SELEKT"})}), "privileges", `"SELEKT" is not a postgresql privilege on tables`},
		{pg(map[string]cty.Value{"on": cty.StringVal("database"), "database": cty.StringVal("d"), "privileges": resources.StringList([]string{"USAGE"})}), "privileges", "not a postgresql privilege on database"},
		{pg(map[string]cty.Value{"on": cty.StringVal("table"), "database": cty.StringVal("d"), "privileges": resources.StringList(nil)}), "on", "PostgreSQL scopes"},
		{pg(map[string]cty.Value{"on": cty.StringVal("schema"), "privileges": resources.StringList(nil)}), "database", "required"},
		{map[string]cty.Value{"engine": cty.StringVal("mysql"), "role": cty.StringVal("a"), "on": cty.StringVal("db"), "privileges": resources.StringList(nil)}, "on", "MySQL scopes"},
		{map[string]cty.Value{"engine": cty.StringVal("mysql"), "role": cty.StringVal("a"), "on": cty.StringVal("db.t"), "privileges": resources.StringList([]string{"SHUTDOWN"})}, "privileges", "not a mysql privilege"},
	}
	for _, c := range cases {
		_, err := Grant{}.Desired(cfgOf(s, c.kv), nil)
		ae, ok := err.(*resources.AttrError)
		if !ok || ae.Attr != c.attr || !strings.Contains(ae.Msg, c.msg) {
			t.Errorf("%v: error %v, want %s: ...%s...", c.kv, err, c.attr, c.msg)
		}
	}
	d, err := Grant{}.Desired(cfgOf(s, pg(map[string]cty.Value{"on": cty.StringVal("database"), "database": cty.StringVal("d"), "privileges": resources.StringList([]string{"connect", "temp", "Connect"})})), nil)
	if err != nil || strings.Join(resources.Strings(d.Attr("privileges")), ",") != "CONNECT,TEMPORARY" {
		t.Errorf("privileges normalized to %v (%v)", d.Attr("privileges"), err)
	}
}

// TestUnknownPassword: a verifier tend cannot check (MariaDB's ed25519
// plugin) leaves the password unchanged in the comparison and the plan
// says it is unknown; a checkable one that matches says nothing.
func TestUnknownPassword(t *testing.T) {
	pw := cty.StringVal("s3cret").Mark(resources.Sensitive)
	want := &resources.State{Present: true, Attrs: map[string]cty.Value{"name": cty.StringVal("app"), "password": pw}}
	cur := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"name": cty.StringVal("app"), "auth_plugin": cty.StringVal("ed25519"), "verifier": cty.StringVal("ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"),
	}}
	if got := comparePassword(MariaDB, want, cur); !got.RawEquals(pw) {
		t.Errorf("unknown password compared as %#v, want the declared one (no change)", got)
	}
	notes := User{}.Notes(cur, want)
	if len(notes) != 1 || !strings.Contains(notes[0], "password: unknown: the stored verifier (auth plugin ed25519) is of a form tend cannot check") {
		t.Errorf("notes %q", notes)
	}
	known := &resources.State{Present: true, Attrs: map[string]cty.Value{
		"name": cty.StringVal("app"), "auth_plugin": cty.StringVal("mysql_native_password"), "verifier": cty.StringVal(mysqlNative("s3cret")),
	}}
	if got := comparePassword(MariaDB, want, known); !got.RawEquals(pw) {
		t.Errorf("matching password compared as %#v", got)
	}
	if notes := (User{}).Notes(known, want); len(notes) != 0 {
		t.Errorf("a checked password has notes %q", notes)
	}
}
