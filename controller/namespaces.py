"""Tenants' namespaces, kept at the API's edge: inside, a tenant's slice ``web`` is
``acme/web`` (slices.spec.qualified), so two tenants may both have ``web`` and no name a
tenant chooses can tell it whether another tenant has that name (issue 25). A tenant
writes and reads its own names bare; an admin sees and writes full names. The engine,
store, events and metrics know only full names, so nothing beyond this module changes.

Slices an operator created with a bare name (or from before namespaces) keep it: their
tenant reaches them by it as long as no slice of its namespace has the same name."""
from __future__ import annotations

import re

from controller.auth import Identity
from controller.core import AlreadyExists
from controller.readmodel import ReadModel
from controller.statuses import Forbidden
from controller.tenancy import PolicyDenied
from slices.errors import Rejected, UnknownSlice
from slices.spec import NAME_RE, qualified

# "link a—b has 5 of 20 Mbit/s free" (slices.placement): how much others booked there
_FREE = re.compile(r"has [0-9.e+-]+ of ([0-9.e+-]+) Mbit/s free")


def full_name(reads: ReadModel, who: Identity, name: str) -> str:
    """The slice ``name`` (as ``who`` wrote it) means (call on the owner thread). A
    tenant's bare name is in its namespace, unless it names a bare-named slice of its own;
    a name with a ``/`` is taken as written (the spec's checks, and the service's
    visibility check, keep a tenant inside its own namespace)."""
    if who.admin or not NAME_RE.match(name):   # a full name, or one no slice can have: as written
        return name
    mine = qualified(who.tenant, name)
    if reads.tenant_of(mine) is None and reads.tenant_of(name) == who.tenant:
        return name
    return mine


def shown(who: Identity, name: str) -> str:
    """``name`` as ``who`` sees it: a tenant its own names bare, an admin every full name."""
    if who.admin:
        return name
    return name.removeprefix(qualified(who.tenant, ""))


def own_doc(reads: ReadModel, who: Identity, doc: dict) -> dict:
    """A tenant's spec with its slice's full name (its tenant already filled in)."""
    name = doc.get("name")
    if who.admin or not isinstance(name, str):
        return doc
    return {**doc, "name": full_name(reads, who, name)}


def redacted(who: Identity, text: str) -> str:
    """``text`` (a refusal, a slice's reason) as ``who`` may read it: a tenant is not told
    how much of a link is free, which is what every other tenant booked there, only that
    too little is (an admin gets the figures); its own slices are named as it names them."""
    if who.admin:
        return text
    own = re.compile(rf"(?<![\w/-]){re.escape(qualified(who.tenant, ''))}(?=[a-z0-9])")   # its names bare
    return own.sub("", _FREE.sub(r"has too little of its \1 Mbit/s free", text))


def redacted_error(who: Identity, err: Exception) -> Exception:
    """``err`` as ``who`` may be told it (:func:`redacted`)."""
    if who.admin:
        return err
    if isinstance(err, Rejected):
        return Rejected(err.constraint, redacted(who, err.reason), err.structural)
    if isinstance(err, (PolicyDenied, AlreadyExists)):
        return type(err)(redacted(who, str(err)))
    return err


def visible(reads: ReadModel, who: Identity, name: str) -> str:
    """The full name of the slice ``who`` calls ``name``; UnknownSlice (naming it as
    ``who`` wrote it) unless ``who`` may see it: another tenant's is as absent as a
    missing one."""
    full = full_name(reads, who, name)
    tenant = reads.tenant_of(full)
    if tenant is None or not who.may_see(tenant):
        raise UnknownSlice(name)
    return full


def own_tenant(who: Identity, doc: dict) -> dict:
    """A spec a tenant sends is for its own tenant: filled in when left out, refused when
    it names another."""
    if who.admin:
        return doc
    if not doc.get("tenant"):
        return {**doc, "tenant": who.tenant}
    if doc["tenant"] != who.tenant:
        raise Forbidden(f"{who.name} acts for tenant {who.tenant!r}, not {str(doc['tenant'])[:100]!r}")
    return doc
