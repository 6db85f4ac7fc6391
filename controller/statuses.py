"""Errors as a gRPC user expects them: one table from the controller's exceptions to
status codes with google.rpc details (as Flower's servicer does), so every handler fails
the same way and nothing ever reaches the client as UNKNOWN."""
from __future__ import annotations

import logging

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controller.core import AlreadyExists, NotConnected, SwitchRefused
from controller.store import StoreError
from controller.tenancy import NoPolicyFile, PolicyDenied, PolicyError
from slices.errors import Rejected, SpecError, UnknownSlice

log = logging.getLogger("intercloud.api")
DOMAIN = "intercloud.slicing.v1"
MAX_DETAIL = 1000  # characters of an error's text in a status (gRPC metadata is small)


class Expired(Exception):
    """The call's deadline passed before the owner could start it (DEADLINE_EXCEEDED)."""


class Forbidden(Exception):
    """The caller may not do this (PERMISSION_DENIED): the message says why."""


def abort(context, code: int, message: str, *details) -> None:
    status = status_pb2.Status(code=code, message=message)
    for d in details:
        packed = any_pb2.Any()
        packed.Pack(d)
        status.details.append(packed)
    context.abort_with_status(rpc_status.to_status(status))


def fail(context, err: Exception, root: str = "spec") -> None:
    """Abort the call with the status that fits ``err``; a spec's field paths are given
    from ``root``, the request's field that holds the spec (empty: they already are)."""
    if isinstance(err, SpecError):
        abort(context, code_pb2.INVALID_ARGUMENT, f"invalid slice spec: {err}",
               error_details_pb2.BadRequest(field_violations=[
                   error_details_pb2.BadRequest.FieldViolation(field=".".join(x for x in (root, f) if x),
                                                               description=p)
                   for f, p in err.violations]))
    elif isinstance(err, UnknownSlice):
        abort(context, code_pb2.NOT_FOUND, str(err),
               error_details_pb2.ResourceInfo(resource_type="Slice", resource_name=str(err.args[0])[:MAX_DETAIL]))
    elif isinstance(err, Expired):
        abort(context, code_pb2.DEADLINE_EXCEEDED, str(err))
    elif isinstance(err, (Forbidden, PolicyDenied)):
        abort(context, code_pb2.PERMISSION_DENIED, str(err)[:MAX_DETAIL])
    elif isinstance(err, PolicyError):
        abort(context, code_pb2.INVALID_ARGUMENT, str(err)[:MAX_DETAIL])
    elif isinstance(err, NoPolicyFile):
        abort(context, code_pb2.FAILED_PRECONDITION, str(err))
    elif isinstance(err, AlreadyExists):
        abort(context, code_pb2.ALREADY_EXISTS, str(err))
    elif isinstance(err, NotConnected):
        abort(context, code_pb2.FAILED_PRECONDITION, str(err),
               error_details_pb2.PreconditionFailure(violations=[
                   error_details_pb2.PreconditionFailure.Violation(type="SWITCH", description=str(err))]))
    elif isinstance(err, Rejected) and err.constraint in ("endpoint", "name", "site", "failback"):
        abort(context, code_pb2.FAILED_PRECONDITION, f"{err.constraint}: {err.reason}",
               error_details_pb2.ErrorInfo(reason=err.constraint.upper(), domain=DOMAIN,
                                           metadata={"constraint": err.constraint, "detail": err.reason}))
    elif isinstance(err, Rejected):
        abort(context, code_pb2.RESOURCE_EXHAUSTED, f"rejected ({err.constraint}): {err.reason}",
               error_details_pb2.ErrorInfo(reason=err.constraint.upper(), domain=DOMAIN,
                                           metadata={"constraint": err.constraint, "detail": err.reason}),
               error_details_pb2.QuotaFailure(violations=[
                   error_details_pb2.QuotaFailure.Violation(subject=err.constraint, description=err.reason)]))
    elif isinstance(err, (StoreError, SwitchRefused)):
        abort(context, code_pb2.UNAVAILABLE, f"{err}; nothing was changed, try again once it is fixed",
               error_details_pb2.ErrorInfo(reason="STORE" if isinstance(err, StoreError) else "SWITCH",
                                           domain=DOMAIN, metadata={"detail": str(err)[:MAX_DETAIL]}))
    else:
        log.error("internal error (the request was undone)", exc_info=err)
        abort(context, code_pb2.INTERNAL, f"internal error, nothing was changed: "
               f"{type(err).__name__}: {str(err)[:MAX_DETAIL]}")
