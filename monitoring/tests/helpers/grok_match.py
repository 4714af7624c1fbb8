"""Matches lines against grok patterns the way Logstash's grok filter does, with pygrok's
pattern library and the `regex` module.

Usage: python3 grok_match.py < request.json

The request is {"patterns_dirs": [DIR, ...], "cases": [{"patterns": [P, ...], "text": T}]}.
For each case the patterns are tried in order and the first match wins (grok's
break_on_match). The answer, on stdout, is {"results": [...], "used": [NAME, ...]}: per case
{"matched": INDEX or null, "fields": {FIELD: VALUE}}, and every pattern name the expansion
used, transitively, so a test can check that only known-good definitions were involved.

Differences from pygrok that matter for Logstash pipelines: capture names may be field
references (`[log][level]`), `%{NAME}` without a field captures nothing, `:int` and `:float`
convert, and captures that did not take part in the match are left out.
"""

import json
import os
import sys

import regex
from pygrok import pygrok

REFERENCE = regex.compile(r"%\{(\w+)(?::([^:}]+))?(?::(int|float))?\}")


def load_library(dirs):
    library = {}
    for d in [os.path.join(os.path.dirname(pygrok.__file__), "patterns")] + dirs:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                for pattern in pygrok._load_patterns_from_file(path).values():
                    library[pattern.pattern_name] = pattern.regex_str
    return library


class Expander:
    def __init__(self, library):
        self.library = library
        self.used = set()
        self.fields = {}  # group name -> (field, type)

    def expand(self, pattern, depth=0):
        if depth > 50:
            raise ValueError(f"pattern recursion too deep in {pattern!r}")

        def replace(m):
            name, field, kind = m.group(1), m.group(2), m.group(3)
            if name not in self.library:
                raise KeyError(f"unknown grok pattern {name}")
            self.used.add(name)
            body = self.expand(self.library[name], depth + 1)
            if field is None:
                return f"(?:{body})"
            group = f"g{len(self.fields)}"
            self.fields[group] = (field, kind)
            return f"(?P<{group}>{body})"

        return REFERENCE.sub(replace, pattern)


def match(library, patterns, text, used):
    for index, pattern in enumerate(patterns):
        expander = Expander(library)
        compiled = regex.compile(expander.expand(pattern))
        used.update(expander.used)
        m = compiled.search(text)
        if m is None:
            continue
        fields = {}
        for group, (field, kind) in expander.fields.items():
            value = m.group(group)
            if value is None:
                continue
            if kind == "int":
                value = int(value)
            elif kind == "float":
                value = float(value)
            fields[field] = value
        return {"matched": index, "fields": fields}
    return {"matched": None, "fields": {}}


def main():
    request = json.load(sys.stdin)
    library = load_library(request["patterns_dirs"])
    used = set()
    results = [match(library, c["patterns"], c["text"], used) for c in request["cases"]]
    json.dump({"results": results, "used": sorted(used)}, sys.stdout)


if __name__ == "__main__":
    main()
