"""Per-test outcomes of the direct run and the plugin run of the upstream corpus, compared.

    python benchmarks/upstream/compare.py DIRECT.xml PLUGIN.xml

Both are pytest ``--junitxml`` files. A test is keyed by (operator, test id): the direct run's
``experimental_tests/unit/<op>_test.py::<id>`` and the plugin's ``.../operators/<op>.json::<id>``.
The plugin's own items (``load``, ``isolation``) are counted apart. Prints a summary and every
test whose outcome differs; exits 1 when any does.
"""

from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ET

OWN_ITEMS = ("load", "isolation", "tests")


def outcomes(path: str, suffix: str) -> dict[tuple[str, str], str]:
    """(op, test id) → passed / failed / error / skipped."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        op = case.get("classname", "").removesuffix(".json").rsplit(".", 1)[-1].removesuffix(suffix)
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[(op, case.get("name", ""))] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return found


def main(direct_xml: str, plugin_xml: str) -> int:
    direct = outcomes(direct_xml, "_test")
    plugin = outcomes(plugin_xml, "")
    own = {key: value for key, value in plugin.items() if key[1] in OWN_ITEMS}
    tests = {key: value for key, value in plugin.items() if key[1] not in OWN_ITEMS}
    print("direct:", dict(collections.Counter(direct.values())), f"({len({op for op, _ in direct})} operators)")
    print("plugin:", dict(collections.Counter(tests.values())), "+ own items:", dict(collections.Counter(own.values())))
    differ = sorted(key for key in direct.keys() | tests.keys() if direct.get(key) != tests.get(key))
    for op, test in differ:
        print(
            f"  differs: {op}::{test}: direct {direct.get((op, test), 'absent')}, plugin {tests.get((op, test), 'absent')}"
        )
    failed_own = sorted(key for key, value in own.items() if value != "passed")
    for op, item in failed_own:
        print(f"  plugin item failed: {op}::{item}")
    print(
        f"same outcome: {len(direct) - len([k for k in differ if k in direct])} of {len(direct)} tests; {len(failed_own)} plugin items failed"
    )
    return 1 if differ or failed_own else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
