#!/bin/sh
# A dynamic inventory without _meta: vars come from --host HOST, in JSON
# or YAML.
case "$1" in
--list)
	echo '{"app": ["a1", "a2"], "all": {"vars": {"global": 1}}, "cache": {"hosts": ["c1"], "children": ["app"]}}'
	;;
--host)
	case "$2" in
	a1) echo '{"role": "primary", "ansible_user": "deploy"}' ;;
	a2) echo '{}' ;;
	c1) printf 'yaml_var: yes\nport: 0700\n' ;;
	esac
	;;
esac
