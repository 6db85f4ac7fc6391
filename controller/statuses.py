"""Errors as a gRPC user expects them: one table from the controller's exceptions to
status codes with google.rpc details (as Flower's servicer does), so every handler fails
the same way and nothing ever reaches the client as UNKNOWN."""
from __future__ import annotations

import logging
import re

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controller.core import AlreadyExists, NotConnected, SwitchRefused
from controller.fedhome import FederatedRefusal
from controller.store import StoreError
from controller.tenancy import NoPolicyFile, PolicyDenied, PolicyError
from slices.errors import Rejected, SpecError, UnknownSlice

log = logging.getLogger("intercloud.api")
DOMAIN = "intercloud.slicing.v1"
MAX_DETAIL = 1000  # characters of an error's text in a status (gRPC metadata is small)
# A status travels in gRPC trailers, which the client refuses beyond 16 KB (the request
# then fails as RESOURCE_EXHAUSTED "Stream removed", and nothing of the error is seen):
# the first problems are listed, the rest counted, and a status never exceeds this.
MAX_VIOLATIONS = 20
MAX_STATUS_BYTES = 8192
_SPEC_INDEX = re.compile(r"^specs\[(\d+)\]")


class Expired(Exception):
    """The call's deadline passed before the owner could start it (DEADLINE_EXCEEDED)."""


class Forbidden(Exception):
    """The caller may not do this (PERMISSION_DENIED): the message says why."""


def abort(context, code: int, message: str, *details) -> None:
    """Abort with ``code``, ``message`` and ``details``, cut to fit gRPC's trailers: the
    message to MAX_DETAIL characters, then details dropped from the last while the status
    is larger than MAX_STATUS_BYTES (the message says so)."""
    if len(message) > MAX_DETAIL:
        message = message[:MAX_DETAIL - 1] + "…"
    status = status_pb2.Status(code=code, message=message)
    for d in details:
        packed = any_pb2.Any()
        packed.Pack(d)
        status.details.append(packed)
    while status.details and status.ByteSize() > MAX_STATUS_BYTES:
        del status.details[-1]
        status.message = message + " (some details left out: too large for a reply)"
    context.abort_with_status(rpc_status.to_status(status))


def spec_error(err: SpecError, root: str = "spec") -> tuple[str, list]:
    """The message and details of an invalid spec (or batch of specs): the first
    MAX_VIOLATIONS problems as field violations; with more, the message ends with how
    many problems there are and which specs of a batch had them, and an ErrorInfo
    (reason INVALID_SPEC) carries the counts."""
    path = lambda f: ".".join(x for x in (root, f) if x)  # noqa: E731
    shown = err.violations[:MAX_VIOLATIONS]
    details: list = [error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=path(f), description=p[:MAX_DETAIL]) for f, p in shown])]
    text = "; ".join(f"{path(f)}: {p}" if path(f) else p for f, p in shown[:3])
    specs = sorted({int(m.group(1)) for f, _p in err.violations if (m := _SPEC_INDEX.match(path(f)))})
    if len(err.violations) <= MAX_VIOLATIONS:
        return f"invalid slice spec: {err}", details
    named = ", ".join(f"specs[{i}]" for i in specs[:10]) + (f" and {len(specs) - 10:,} more" if len(specs) > 10 else "")
    where = f" in {len(specs):,} specs ({named})" if specs else ""
    count = f"{len(err.violations):,} problems{where}; the first {len(shown)} are listed"
    details.append(error_details_pb2.ErrorInfo(reason="INVALID_SPEC", domain=DOMAIN, metadata={
        "problems": str(len(err.violations)), "specs_wrong": str(len(specs)), "listed": str(len(shown))}))
    return f"invalid slice spec: {text[:MAX_DETAIL // 2]}; … {count}", details


def fail(context, err: Exception, root: str = "spec") -> None:
    """Abort the call with the status that fits ``err``; a spec's field paths are given
    from ``root``, the request's field that holds the spec (empty: they already are)."""
    if isinstance(err, SpecError):
        message, details = spec_error(err, root)
        abort(context, code_pb2.INVALID_ARGUMENT, message, *details)
    elif isinstance(err, UnknownSlice):
        abort(context, code_pb2.NOT_FOUND, str(err),
               error_details_pb2.ResourceInfo(resource_type="Slice", resource_name=str(err.args[0])[:MAX_DETAIL]))
    elif isinstance(err, Expired):
        abort(context, code_pb2.DEADLINE_EXCEEDED, str(err))
    elif isinstance(err, (Forbidden, PolicyDenied)):
        abort(context, code_pb2.PERMISSION_DENIED, str(err)[:MAX_DETAIL])
    elif isinstance(err, FederatedRefusal):
        abort(context, getattr(code_pb2, err.code, code_pb2.FAILED_PRECONDITION), str(err)[:MAX_DETAIL])
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
    elif isinstance(err, Rejected) and err.constraint in ("endpoint", "name", "site", "failback", "maintenance"):
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
