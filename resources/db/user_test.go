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
		{pg(map[string]cty.Value{"on": cty.StringVal("tables"), "database": cty.StringVal("d"), "privileges": strs([]string{"SELEKT"})}), "privileges", `"SELEKT" is not a postgresql privilege on tables`},
		{pg(map[string]cty.Value{"on": cty.StringVal("database"), "database": cty.StringVal("d"), "privileges": strs([]string{"USAGE"})}), "privileges", "not a postgresql privilege on database"},
		{pg(map[string]cty.Value{"on": cty.StringVal("table"), "database": cty.StringVal("d"), "privileges": strs(nil)}), "on", "PostgreSQL scopes"},
		{pg(map[string]cty.Value{"on": cty.StringVal("schema"), "privileges": strs(nil)}), "database", "required"},
		{map[string]cty.Value{"engine": cty.StringVal("mysql"), "role": cty.StringVal("a"), "on": cty.StringVal("db"), "privileges": strs(nil)}, "on", "MySQL scopes"},
		{map[string]cty.Value{"engine": cty.StringVal("mysql"), "role": cty.StringVal("a"), "on": cty.StringVal("db.t"), "privileges": strs([]string{"SHUTDOWN"})}, "privileges", "not a mysql privilege"},
	}
	for _, c := range cases {
		_, err := Grant{}.Desired(cfgOf(s, c.kv), nil)
		ae, ok := err.(*resources.AttrError)
		if !ok || ae.Attr != c.attr || !strings.Contains(ae.Msg, c.msg) {
			t.Errorf("%v: error %v, want %s: ...%s...", c.kv, err, c.attr, c.msg)
		}
	}
	d, err := Grant{}.Desired(cfgOf(s, pg(map[string]cty.Value{"on": cty.StringVal("database"), "database": cty.StringVal("d"), "privileges": strs([]string{"connect", "temp", "Connect"})})), nil)
	if err != nil || strings.Join(listOf(d.Attr("privileges")), ",") != "CONNECT,TEMPORARY" {
		t.Errorf("privileges normalized to %v (%v)", d.Attr("privileges"), err)
	}
}
