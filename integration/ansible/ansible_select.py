"""Evaluate many host patterns with Ansible in one process.

The differential test (differential_test.go) runs this with the Python
that runs ansible. It reads {"sources": [...], "patterns": [...]} on
stdin and prints, for each pattern, what `ansible all -i SOURCES
--list-hosts --limit PATTERN` would list, computed by the same calls the
ansible CLI makes (CLI.get_host_list: InventoryManager.subset, then
list_hosts), without paying Python's start-up for every pattern. The test
also runs the real CLI for some patterns and checks that both agree.

Output: a JSON list with, per pattern, {"hosts": [...]} or {"error":
"..."}, and "warnings": the warnings Ansible's inventory printed.
"""

import json
import sys

from ansible.cli import CLI
from ansible.errors import AnsibleError
from ansible.inventory import manager
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader


def main():
    req = json.load(sys.stdin)
    warnings = []
    manager.display.warning = lambda msg, *args, **kwargs: warnings.append(msg)
    inventory = InventoryManager(loader=DataLoader(), sources=req["sources"])
    results = []
    for pattern in req["patterns"]:
        del warnings[:]
        result = {}
        try:
            hosts = CLI.get_host_list(inventory, pattern, "all")
            result["hosts"] = [h.name for h in hosts]
        except AnsibleError as e:
            result["error"] = str(e)
        result["warnings"] = list(warnings)
        results.append(result)
        inventory.subset(None)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
