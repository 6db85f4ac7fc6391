"""The API's interceptors: requests that do not decode are the client's error
(INVALID_ARGUMENT), writes only on a cluster's leader, every unary call timed. Split from
controller.service, which holds the handlers."""
from __future__ import annotations

import time

import grpc
from google.rpc import code_pb2, error_details_pb2

from controller.statuses import DOMAIN, abort
from controller.store import StoreError


class _Garbled:
    """A request body that is not the message it should be (from a broken or hostile
    client): the handler answers INVALID_ARGUMENT instead of gRPC's INTERNAL and traceback."""

    def __init__(self, error: Exception, kind: str):
        self.error, self.kind = error, kind


class _Decoding(grpc.ServerInterceptor):
    """Decodes requests itself, so a body that does not parse is the client's error."""

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        decode, kind = handler.request_deserializer, details.method.rsplit("/", 1)[-1]

        def lenient(data: bytes):
            try:
                return decode(data)
            except Exception as e:   # a protobuf DecodeError, whatever its class in this runtime
                return _Garbled(e, kind)

        def refuse(request, context):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"the request body is not a valid {request.kind} request: {str(request.error)[:200]}")

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request, context):
                return refuse(request, context) if isinstance(request, _Garbled) else inner(request, context)
            return grpc.unary_unary_rpc_method_handler(unary, lenient, handler.response_serializer)
        if handler.unary_stream is not None:
            stream = handler.unary_stream

            def streaming(request, context):
                if isinstance(request, _Garbled):
                    refuse(request, context)
                yield from stream(request, context)
            return grpc.unary_stream_rpc_method_handler(streaming, lenient, handler.response_serializer)
        return handler


WRITES = {"CreateSlice", "CreateSlices", "UpdateSlice", "DeleteSlice", "FailbackEndpoints", "DrainSite",
          "UndrainSite", "DrainLink", "UndrainLink"}


class _LeaderOnly(grpc.ServerInterceptor):
    """In a cluster, only the leader changes anything: a write reaching another instance
    is UNAVAILABLE (retryable, nothing done) and names the leader, so a client with
    several --server addresses goes there. Reads are answered by every instance."""

    def __init__(self, cluster, leads):
        self.cluster, self.leads = cluster, leads

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.unary_unary is None or details.method.rsplit("/", 1)[-1] not in WRITES:
            return handler
        inner = handler.unary_unary

        def only_leader(request, context):
            if self.leads():
                return inner(request, context)
            try:
                leader = self.cluster.leader()
            except StoreError as e:
                leader, why = None, f"the cluster's leader is unknown ({e})"
            else:
                why = ("no instance leads the cluster right now (a take-over is under way)" if leader is None else
                       f"this controller ({self.cluster.name}) does not lead the cluster"
                       + (" yet: its take-over is under way" if leader.name == self.cluster.name else
                          f": {leader.name} at {leader.api} does"))
            abort(context, code_pb2.UNAVAILABLE, f"{why}; nothing was changed, retry"
                   + (f" at {leader.api}" if leader is not None and leader.name != self.cluster.name else ""),
                   error_details_pb2.ErrorInfo(reason="NOT_LEADER", domain=DOMAIN,
                                               metadata={"leader": leader.api if leader else ""}))
        return grpc.unary_unary_rpc_method_handler(only_leader, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


class _Timed(grpc.ServerInterceptor):
    """Times every unary call into a histogram labelled by method and status code."""

    def __init__(self, histogram):
        self.histogram = histogram

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method, inner = details.method.rsplit("/", 1)[-1], handler.unary_unary

        def timed(request, context):
            started = time.monotonic()
            try:
                return inner(request, context)
            finally:
                code = context.code() or grpc.StatusCode.OK
                self.histogram.labels(method, code.name).observe(time.monotonic() - started)
        return grpc.unary_unary_rpc_method_handler(timed, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
