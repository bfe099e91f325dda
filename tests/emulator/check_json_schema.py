"""Validate JSON documents against a JSON Schema (draft 2020-12), for the Rust tests.

Usage: ``python check_json_schema.py SCHEMA.json < documents`` with one JSON document per
line. The schema itself is checked first. Prints one line per document (``ok`` or the
validation errors) and exits 0 when every document is valid, 1 when one is not, 2 when the
schema or the input is unusable. Uses the ``jsonschema`` package of the project's venv.
"""

from __future__ import annotations

import json
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

#: Longest error text printed per document (a runaway document cannot flood the test's output).
MAX_ERROR_CHARS = 2000


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        print(f"invalid schema: {err.message}", file=sys.stderr)
        return 2
    validator = Draft202012Validator(schema)
    failed = False
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        print("no documents on stdin", file=sys.stderr)
        return 2
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError as err:
            print(f"not JSON: {err}")
            failed = True
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            failed = True
            text = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)
            print(text[:MAX_ERROR_CHARS])
        else:
            print("ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
