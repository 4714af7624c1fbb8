"""Decodes captured OTLP export requests with the reference classes (opentelemetry-proto).

Usage: decode.py metrics|logs|traces FILE...; prints one JSON object per file, one a line,
with the protobuf field names (MessageToDict, 64-bit integers as strings).
"""
import json
import sys

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

KINDS = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}

kind = KINDS[sys.argv[1]]
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        data = f.read()
    msg = kind()
    msg.ParseFromString(data)
    # Bytes the schema does not know (a wrong field number or wire type) would be kept as
    # unknown fields: refuse them.
    known = kind()
    known.CopyFrom(msg)
    known.DiscardUnknownFields()
    if known.ByteSize() != msg.ByteSize():
        raise SystemExit(f"{path}: fields unknown to the OTLP schema")
    print(json.dumps(MessageToDict(msg, preserving_proto_field_name=True)))
