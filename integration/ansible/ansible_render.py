"""Render inventory variables with Ansible's own templating.

`ansible-inventory --list` prints hostvars as written, templates
unrendered. The differential test (differential_test.go) runs this with
the Python that runs ansible to learn what each template means: it reads
{"sources": [...], "hosts": {HOST: [VAR, ...]}} on stdin and, for each
host, renders each variable as a task on that host would see it
(VariableManager.get_vars, then Templar.template, strict about undefined
variables). The test also checks some values against the real ansible
command (the debug module).

Output: {HOST: {VAR: {"value": V} or {"error": "..."}}}.
"""

import json
import sys

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager


def main():
    req = json.load(sys.stdin)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=req["sources"])
    variables = VariableManager(loader=loader, inventory=inventory)
    out = {}
    for name, names in req["hosts"].items():
        host = inventory.get_host(name)
        hostvars = variables.get_vars(host=host, include_hostvars=True)
        templar = Templar(loader=loader, variables=hostvars)
        rendered = {}
        for var in names:
            try:
                rendered[var] = {"value": templar.template(hostvars[var], fail_on_undefined=True)}
            except AnsibleError as e:
                rendered[var] = {"error": str(e)}
        out[name] = rendered
    json.dump(out, sys.stdout, cls=AnsibleJSONEncoder)


if __name__ == "__main__":
    main()
