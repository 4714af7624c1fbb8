"""Parse expositions with the Python prometheus_client parsers, an independent implementation.

Reads a JSON list of {"format": "text"|"openmetrics", "body": "..."} on stdin and writes a JSON
list with, per input, either {"error": "..."} or {"families": [...]}, where each family is
{"name", "type", "help", "unit", "samples": [[sample_name, {label: value}, value_repr]]}.
Values are written with repr() so NaN and infinities survive JSON.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text


def main():
    out = []
    for item in json.load(sys.stdin):
        parse = parse_om if item["format"] == "openmetrics" else parse_text
        try:
            families = []
            for f in parse(item["body"]):
                samples = [[s.name, dict(s.labels), repr(float(s.value))] for s in f.samples]
                families.append({
                    "name": f.name,
                    "type": f.type,
                    "help": f.documentation,
                    "unit": f.unit,
                    "samples": samples,
                })
            out.append({"families": families})
        except Exception as e:  # the Rust side reports the message
            out.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
