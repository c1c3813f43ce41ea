#!/bin/sh
# A dynamic inventory with _meta.hostvars: --host is never called.
case "$1" in
--list)
	cat <<'JSON'
{
  "web": {"hosts": ["w1", "w2", "w3"], "vars": {"http_port": 80, "ratio": 1.5, "exp": 1e3, "big": 12345678901234567890}},
  "db": ["d1", "d2"],
  "prod": {"children": ["web", "db"], "vars": {"env": "prod"}},
  "solo": {"ansible_host": "10.9.9.9", "note": "a host with the group's name"},
  "empty": {"hosts": []},
  "all": {"vars": {"region": "eu"}},
  "_meta": {"hostvars": {
    "w1": {"ansible_host": "10.0.0.1", "list": [1, "a", null], "nested": {"x": {"y": true}}},
    "d2": {"ansible_port": "2222", "unicode": "caf\u00e9"},
    "ghost": {"not": "listed in any group"}
  }}
}
JSON
	;;
--host)
	echo "--host must not be called when _meta is present" >&2
	exit 1
	;;
*)
	exit 2
	;;
esac
