"""Parses Logstash pipeline files with logstash-pipeline-parser and prints their syntax trees.

Usage: python3 logstash_ast.py FILE...

Prints one JSON object: {"FILE": [section, ...], ...}. The tree is the parser's own (lists of
[name, value] pairs; conditions as [lhs, op, rhs] triples); addresses and paths the parser
turns into Python objects are written back as strings. A file that does not parse makes the
script exit 1 with the parser's message.
"""

import json
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import PurePath

from logstash_pipeline_parser import Pipeline


def plain(value):
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (IPv4Address, IPv6Address, PurePath)):
        return str(value)
    return value


def main(paths):
    trees = {}
    for path in paths:
        try:
            pipeline = Pipeline.from_file(path)
            # The parser converts some option values (path, ssl_key, ...) to Python types by
            # option name; a list-valued `path` breaks that, and the tests want plain values.
            for name in list(pipeline.get_types()):
                pipeline.remove_type(name)
            trees[path] = plain(pipeline.parse())
        except Exception as e:  # the parser raises its own ParseError and pyparsing errors
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    json.dump(trees, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
