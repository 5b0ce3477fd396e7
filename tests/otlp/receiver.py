"""A real OTLP/gRPC trace receiver for the tests, built on the OpenTelemetry project's own
protocol package (PyPI opentelemetry-proto) and grpcio: it implements
opentelemetry.proto.collector.trace.v1.TraceService/Export, prints `listening PORT` once it
serves on a free loopback port, then one JSON line per span received (ids in hex, attributes
as strings, the resource's service.name). With --discard it prints nothing after the port
(the benchmark's sink: spans are received and parsed, then dropped).

    receiver.py [--discard]
"""

import json
import sys
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def value(any_value):
    kind = any_value.WhichOneof("value")
    return str(getattr(any_value, kind)) if kind else ""


def attributes(items):
    return {item.key: value(item.value) for item in items}


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, discard):
        self.discard = discard

    def Export(self, request, context):
        if self.discard:
            return trace_service_pb2.ExportTraceServiceResponse()
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    line = {
                        "service": resource.get("service.name", ""),
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": attributes(span.attributes),
                        "events": [event.name for event in span.events],
                    }
                    print(json.dumps(line), flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    traces = Traces(discard="--discard" in sys.argv[1:])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(traces, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
