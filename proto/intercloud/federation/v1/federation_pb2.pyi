from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReservationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATE_UNSPECIFIED: _ClassVar[ReservationState]
    RESERVATION_STATE_START: _ClassVar[ReservationState]
    RESERVATION_STATE_CHECKING: _ClassVar[ReservationState]
    RESERVATION_STATE_HELD: _ClassVar[ReservationState]
    RESERVATION_STATE_COMMITTING: _ClassVar[ReservationState]
    RESERVATION_STATE_FAILED: _ClassVar[ReservationState]
    RESERVATION_STATE_TIMEOUT: _ClassVar[ReservationState]
    RESERVATION_STATE_ABORTING: _ClassVar[ReservationState]

class ProvisionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVISION_STATE_UNSPECIFIED: _ClassVar[ProvisionState]
    PROVISION_STATE_RELEASED: _ClassVar[ProvisionState]
    PROVISION_STATE_PROVISIONING: _ClassVar[ProvisionState]
    PROVISION_STATE_PROVISIONED: _ClassVar[ProvisionState]
    PROVISION_STATE_RELEASING: _ClassVar[ProvisionState]

class LifecycleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIFECYCLE_STATE_UNSPECIFIED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_CREATED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_FAILED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_PASSED_END_TIME: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_TERMINATING: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_TERMINATED: _ClassVar[LifecycleState]

class NotificationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_KIND_UNSPECIFIED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_RESERVE_TIMEOUT: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_STATE_CHANGE: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_ERROR_EVENT: _ClassVar[NotificationKind]
RESERVATION_STATE_UNSPECIFIED: ReservationState
RESERVATION_STATE_START: ReservationState
RESERVATION_STATE_CHECKING: ReservationState
RESERVATION_STATE_HELD: ReservationState
RESERVATION_STATE_COMMITTING: ReservationState
RESERVATION_STATE_FAILED: ReservationState
RESERVATION_STATE_TIMEOUT: ReservationState
RESERVATION_STATE_ABORTING: ReservationState
PROVISION_STATE_UNSPECIFIED: ProvisionState
PROVISION_STATE_RELEASED: ProvisionState
PROVISION_STATE_PROVISIONING: ProvisionState
PROVISION_STATE_PROVISIONED: ProvisionState
PROVISION_STATE_RELEASING: ProvisionState
LIFECYCLE_STATE_UNSPECIFIED: LifecycleState
LIFECYCLE_STATE_CREATED: LifecycleState
LIFECYCLE_STATE_FAILED: LifecycleState
LIFECYCLE_STATE_PASSED_END_TIME: LifecycleState
LIFECYCLE_STATE_TERMINATING: LifecycleState
LIFECYCLE_STATE_TERMINATED: LifecycleState
NOTIFICATION_KIND_UNSPECIFIED: NotificationKind
NOTIFICATION_KIND_RESERVE_TIMEOUT: NotificationKind
NOTIFICATION_KIND_STATE_CHANGE: NotificationKind
NOTIFICATION_KIND_ERROR_EVENT: NotificationKind

class Stp(_message.Message):
    __slots__ = ("site", "port", "vlan", "addresses")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    VLAN_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    site: str
    port: int
    vlan: int
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, site: _Optional[str] = ..., port: _Optional[int] = ..., vlan: _Optional[int] = ..., addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class GetViewRequest(_message.Message):
    __slots__ = ("requester",)
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    requester: str
    def __init__(self, requester: _Optional[str] = ...) -> None: ...

class PairOffer(_message.Message):
    __slots__ = ("a", "b", "bandwidth_mbps", "min_delay_ms")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    MIN_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    bandwidth_mbps: float
    min_delay_ms: float
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., bandwidth_mbps: _Optional[float] = ..., min_delay_ms: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("site", "kind", "region")
    SITE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    site: str
    kind: str
    region: str
    def __init__(self, site: _Optional[str] = ..., kind: _Optional[str] = ..., region: _Optional[str] = ...) -> None: ...

class BorderOffer(_message.Message):
    __slots__ = ("name", "site", "port", "free_mbps", "up", "tags_in_use")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    FREE_MBPS_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    TAGS_IN_USE_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    port: int
    free_mbps: float
    up: bool
    tags_in_use: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., port: _Optional[int] = ..., free_mbps: _Optional[float] = ..., up: _Optional[bool] = ..., tags_in_use: _Optional[_Iterable[int]] = ...) -> None: ...

class View(_message.Message):
    __slots__ = ("domain", "points", "pairs", "borders")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    BORDERS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    points: _containers.RepeatedCompositeFieldContainer[Point]
    pairs: _containers.RepeatedCompositeFieldContainer[PairOffer]
    borders: _containers.RepeatedCompositeFieldContainer[BorderOffer]
    def __init__(self, domain: _Optional[str] = ..., points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., pairs: _Optional[_Iterable[_Union[PairOffer, _Mapping]]] = ..., borders: _Optional[_Iterable[_Union[BorderOffer, _Mapping]]] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("requester", "global_id", "endpoints", "bandwidth_mbps", "max_latency_ms", "priority", "allowed_regions", "hold_timeout_s", "start_time", "end_time")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_REGIONS_FIELD_NUMBER: _ClassVar[int]
    HOLD_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    requester: str
    global_id: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Stp]
    bandwidth_mbps: float
    max_latency_ms: float
    priority: int
    allowed_regions: _containers.RepeatedScalarFieldContainer[str]
    hold_timeout_s: float
    start_time: str
    end_time: str
    def __init__(self, requester: _Optional[str] = ..., global_id: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Stp, _Mapping]]] = ..., bandwidth_mbps: _Optional[float] = ..., max_latency_ms: _Optional[float] = ..., priority: _Optional[int] = ..., allowed_regions: _Optional[_Iterable[str]] = ..., hold_timeout_s: _Optional[float] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ...) -> None: ...

class Connection(_message.Message):
    __slots__ = ("connection_id", "global_id", "reservation", "provision", "lifecycle", "committed", "hold_expires_in_s", "reason", "endpoints", "bandwidth_mbps")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    PROVISION_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    global_id: str
    reservation: ReservationState
    provision: ProvisionState
    lifecycle: LifecycleState
    committed: bool
    hold_expires_in_s: float
    reason: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Stp]
    bandwidth_mbps: float
    def __init__(self, connection_id: _Optional[str] = ..., global_id: _Optional[str] = ..., reservation: _Optional[_Union[ReservationState, str]] = ..., provision: _Optional[_Union[ProvisionState, str]] = ..., lifecycle: _Optional[_Union[LifecycleState, str]] = ..., committed: _Optional[bool] = ..., hold_expires_in_s: _Optional[float] = ..., reason: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Stp, _Mapping]]] = ..., bandwidth_mbps: _Optional[float] = ...) -> None: ...

class ConnectionRequest(_message.Message):
    __slots__ = ("requester", "connection_id")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    requester: str
    connection_id: str
    def __init__(self, requester: _Optional[str] = ..., connection_id: _Optional[str] = ...) -> None: ...

class ModifyRequest(_message.Message):
    __slots__ = ("requester", "connection_id", "endpoints", "max_latency_ms")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    requester: str
    connection_id: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Stp]
    max_latency_ms: float
    def __init__(self, requester: _Optional[str] = ..., connection_id: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Stp, _Mapping]]] = ..., max_latency_ms: _Optional[float] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("requester", "connection_ids")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_IDS_FIELD_NUMBER: _ClassVar[int]
    requester: str
    connection_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, requester: _Optional[str] = ..., connection_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("connections",)
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[Connection]
    def __init__(self, connections: _Optional[_Iterable[_Union[Connection, _Mapping]]] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("kind", "connection_id", "text", "connection", "stp")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    STP_FIELD_NUMBER: _ClassVar[int]
    kind: NotificationKind
    connection_id: str
    text: str
    connection: Connection
    stp: Stp
    def __init__(self, kind: _Optional[_Union[NotificationKind, str]] = ..., connection_id: _Optional[str] = ..., text: _Optional[str] = ..., connection: _Optional[_Union[Connection, _Mapping]] = ..., stp: _Optional[_Union[Stp, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("requester",)
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    requester: str
    def __init__(self, requester: _Optional[str] = ...) -> None: ...
