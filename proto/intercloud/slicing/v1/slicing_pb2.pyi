import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Protection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTECTION_UNSPECIFIED: _ClassVar[Protection]
    PROTECTION_NONE: _ClassVar[Protection]
    PROTECTION_LINK: _ClassVar[Protection]
    PROTECTION_SITE: _ClassVar[Protection]
    PROTECTION_REGION: _ClassVar[Protection]

class SliceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLICE_STATE_UNSPECIFIED: _ClassVar[SliceState]
    SLICE_STATE_REQUESTED: _ClassVar[SliceState]
    SLICE_STATE_ACTIVE: _ClassVar[SliceState]
    SLICE_STATE_DEGRADED: _ClassVar[SliceState]
    SLICE_STATE_PREEMPTED: _ClassVar[SliceState]
    SLICE_STATE_FAILED: _ClassVar[SliceState]
    SLICE_STATE_DELETED: _ClassVar[SliceState]
    SLICE_STATE_SCHEDULED: _ClassVar[SliceState]

class SlaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLA_STATE_UNSPECIFIED: _ClassVar[SlaState]
    SLA_STATE_MEASURING: _ClassVar[SlaState]
    SLA_STATE_WITHIN_BOUND: _ClassVar[SlaState]
    SLA_STATE_VIOLATED: _ClassVar[SlaState]
PROTECTION_UNSPECIFIED: Protection
PROTECTION_NONE: Protection
PROTECTION_LINK: Protection
PROTECTION_SITE: Protection
PROTECTION_REGION: Protection
SLICE_STATE_UNSPECIFIED: SliceState
SLICE_STATE_REQUESTED: SliceState
SLICE_STATE_ACTIVE: SliceState
SLICE_STATE_DEGRADED: SliceState
SLICE_STATE_PREEMPTED: SliceState
SLICE_STATE_FAILED: SliceState
SLICE_STATE_DELETED: SliceState
SLICE_STATE_SCHEDULED: SliceState
SLA_STATE_UNSPECIFIED: SlaState
SLA_STATE_MEASURING: SlaState
SLA_STATE_WITHIN_BOUND: SlaState
SLA_STATE_VIOLATED: SlaState

class Endpoint(_message.Message):
    __slots__ = ("site", "port", "ip", "vlan", "standby", "location", "location_reason")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    VLAN_FIELD_NUMBER: _ClassVar[int]
    STANDBY_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_REASON_FIELD_NUMBER: _ClassVar[int]
    site: str
    port: int
    ip: str
    vlan: int
    standby: Standby
    location: str
    location_reason: str
    def __init__(self, site: _Optional[str] = ..., port: _Optional[int] = ..., ip: _Optional[str] = ..., vlan: _Optional[int] = ..., standby: _Optional[_Union[Standby, _Mapping]] = ..., location: _Optional[str] = ..., location_reason: _Optional[str] = ...) -> None: ...

class Standby(_message.Message):
    __slots__ = ("site", "port")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    site: str
    port: int
    def __init__(self, site: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class SliceSpec(_message.Message):
    __slots__ = ("name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms", "priority", "allowed_regions", "protection", "schedule")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_REGIONS_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    bandwidth_mbps: float
    max_latency_ms: float
    priority: int
    allowed_regions: _containers.RepeatedScalarFieldContainer[str]
    protection: Protection
    schedule: Schedule
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., bandwidth_mbps: _Optional[float] = ..., max_latency_ms: _Optional[float] = ..., priority: _Optional[int] = ..., allowed_regions: _Optional[_Iterable[str]] = ..., protection: _Optional[_Union[Protection, str]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("start", "end", "duration")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    duration: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ..., duration: _Optional[str] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ...) -> None: ...

class SliceStats(_message.Message):
    __slots__ = ("ingress_packets", "ingress_bytes", "meter_packets", "meter_bytes", "meter_dropped_packets", "collected", "ingress_bits_per_second", "dropped_packets_per_second", "rate_interval_s")
    INGRESS_PACKETS_FIELD_NUMBER: _ClassVar[int]
    INGRESS_BYTES_FIELD_NUMBER: _ClassVar[int]
    METER_PACKETS_FIELD_NUMBER: _ClassVar[int]
    METER_BYTES_FIELD_NUMBER: _ClassVar[int]
    METER_DROPPED_PACKETS_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_FIELD_NUMBER: _ClassVar[int]
    INGRESS_BITS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DROPPED_PACKETS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RATE_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    ingress_packets: int
    ingress_bytes: int
    meter_packets: int
    meter_bytes: int
    meter_dropped_packets: int
    collected: _timestamp_pb2.Timestamp
    ingress_bits_per_second: float
    dropped_packets_per_second: float
    rate_interval_s: float
    def __init__(self, ingress_packets: _Optional[int] = ..., ingress_bytes: _Optional[int] = ..., meter_packets: _Optional[int] = ..., meter_bytes: _Optional[int] = ..., meter_dropped_packets: _Optional[int] = ..., collected: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ingress_bits_per_second: _Optional[float] = ..., dropped_packets_per_second: _Optional[float] = ..., rate_interval_s: _Optional[float] = ...) -> None: ...

class SlaStatus(_message.Message):
    __slots__ = ("state", "measured_delay_ms", "worst_pair", "since", "reason")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MEASURED_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    WORST_PAIR_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    state: SlaState
    measured_delay_ms: float
    worst_pair: Link
    since: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, state: _Optional[_Union[SlaState, str]] = ..., measured_delay_ms: _Optional[float] = ..., worst_pair: _Optional[_Union[Link, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class Slice(_message.Message):
    __slots__ = ("spec", "state", "reason", "id", "prefix", "endpoints", "tree", "backup", "worst_delay_ms", "create_time", "update_time", "stats", "sla", "parts")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    WORST_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    SLA_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    spec: SliceSpec
    state: SliceState
    reason: str
    id: int
    prefix: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    tree: _containers.RepeatedCompositeFieldContainer[Link]
    backup: _containers.RepeatedCompositeFieldContainer[Link]
    worst_delay_ms: float
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    stats: SliceStats
    sla: SlaStatus
    parts: _containers.RepeatedCompositeFieldContainer[SlicePart]
    def __init__(self, spec: _Optional[_Union[SliceSpec, _Mapping]] = ..., state: _Optional[_Union[SliceState, str]] = ..., reason: _Optional[str] = ..., id: _Optional[int] = ..., prefix: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., tree: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., backup: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., worst_delay_ms: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stats: _Optional[_Union[SliceStats, _Mapping]] = ..., sla: _Optional[_Union[SlaStatus, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[SlicePart, _Mapping]]] = ...) -> None: ...

class SlicePart(_message.Message):
    __slots__ = ("domain", "connection_id", "state", "endpoints", "max_latency_ms", "base_delay_ms", "reason")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    BASE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    domain: str
    connection_id: str
    state: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    max_latency_ms: float
    base_delay_ms: float
    reason: str
    def __init__(self, domain: _Optional[str] = ..., connection_id: _Optional[str] = ..., state: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., max_latency_ms: _Optional[float] = ..., base_delay_ms: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class SliceEvent(_message.Message):
    __slots__ = ("slice", "kind", "state", "reason", "time")
    SLICE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    slice: str
    kind: str
    state: SliceState
    reason: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, slice: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[SliceState, str]] = ..., reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSliceRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: SliceSpec
    def __init__(self, spec: _Optional[_Union[SliceSpec, _Mapping]] = ...) -> None: ...

class CreateSlicesRequest(_message.Message):
    __slots__ = ("specs",)
    SPECS_FIELD_NUMBER: _ClassVar[int]
    specs: _containers.RepeatedCompositeFieldContainer[SliceSpec]
    def __init__(self, specs: _Optional[_Iterable[_Union[SliceSpec, _Mapping]]] = ...) -> None: ...

class CreateSlicesResponse(_message.Message):
    __slots__ = ("slices",)
    SLICES_FIELD_NUMBER: _ClassVar[int]
    slices: _containers.RepeatedCompositeFieldContainer[Slice]
    def __init__(self, slices: _Optional[_Iterable[_Union[Slice, _Mapping]]] = ...) -> None: ...

class GetSliceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSlicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "tenant", "state", "at")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    tenant: str
    state: SliceState
    at: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., tenant: _Optional[str] = ..., state: _Optional[_Union[SliceState, str]] = ..., at: _Optional[str] = ...) -> None: ...

class ListSlicesResponse(_message.Message):
    __slots__ = ("slices", "next_page_token")
    SLICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    slices: _containers.RepeatedCompositeFieldContainer[Slice]
    next_page_token: str
    def __init__(self, slices: _Optional[_Iterable[_Union[Slice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSliceRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: SliceSpec
    def __init__(self, spec: _Optional[_Union[SliceSpec, _Mapping]] = ...) -> None: ...

class DeleteSliceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteSliceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteSlicesRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteSlicesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchSlicesRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class FailbackEndpointsRequest(_message.Message):
    __slots__ = ("name", "site")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class TenantLimits(_message.Message):
    __slots__ = ("max_priority", "max_slice_mbps", "max_total_mbps", "max_slices", "sites", "regions")
    MAX_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_SLICE_MBPS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_MBPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SLICES_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    max_priority: int
    max_slice_mbps: float
    max_total_mbps: float
    max_slices: int
    sites: _containers.RepeatedScalarFieldContainer[str]
    regions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_priority: _Optional[int] = ..., max_slice_mbps: _Optional[float] = ..., max_total_mbps: _Optional[float] = ..., max_slices: _Optional[int] = ..., sites: _Optional[_Iterable[str]] = ..., regions: _Optional[_Iterable[str]] = ...) -> None: ...

class TenantPolicy(_message.Message):
    __slots__ = ("tenant", "limits")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    limits: TenantLimits
    def __init__(self, tenant: _Optional[str] = ..., limits: _Optional[_Union[TenantLimits, _Mapping]] = ...) -> None: ...

class GetTenantPolicyRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class GetTenantPolicyResponse(_message.Message):
    __slots__ = ("default", "tenants")
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    default: TenantPolicy
    tenants: _containers.RepeatedCompositeFieldContainer[TenantPolicy]
    def __init__(self, default: _Optional[_Union[TenantPolicy, _Mapping]] = ..., tenants: _Optional[_Iterable[_Union[TenantPolicy, _Mapping]]] = ...) -> None: ...

class SetTenantPolicyRequest(_message.Message):
    __slots__ = ("policy", "remove")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    policy: TenantPolicy
    remove: bool
    def __init__(self, policy: _Optional[_Union[TenantPolicy, _Mapping]] = ..., remove: _Optional[bool] = ...) -> None: ...

class Site(_message.Message):
    __slots__ = ("name", "kind", "region", "lat", "lon", "dpid", "connected", "hosts", "drained", "lost", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    DPID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    region: str
    lat: float
    lon: float
    dpid: int
    connected: bool
    hosts: int
    drained: bool
    lost: bool
    role: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., region: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., dpid: _Optional[int] = ..., connected: _Optional[bool] = ..., hosts: _Optional[int] = ..., drained: _Optional[bool] = ..., lost: _Optional[bool] = ..., role: _Optional[str] = ...) -> None: ...

class LinkState(_message.Message):
    __slots__ = ("a", "b", "bandwidth_mbps", "residual_mbps", "delay_ms", "up", "slices", "reason")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_MBPS_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    bandwidth_mbps: float
    residual_mbps: float
    delay_ms: float
    up: bool
    slices: int
    reason: str
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., bandwidth_mbps: _Optional[float] = ..., residual_mbps: _Optional[float] = ..., delay_ms: _Optional[float] = ..., up: _Optional[bool] = ..., slices: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetTopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainSiteRequest(_message.Message):
    __slots__ = ("site", "start", "end")
    SITE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    site: str
    start: str
    end: str
    def __init__(self, site: _Optional[str] = ..., start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class UndrainSiteRequest(_message.Message):
    __slots__ = ("site", "window")
    SITE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    site: str
    window: str
    def __init__(self, site: _Optional[str] = ..., window: _Optional[str] = ...) -> None: ...

class DrainLinkRequest(_message.Message):
    __slots__ = ("a", "b", "start", "end")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    start: str
    end: str
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class UndrainLinkRequest(_message.Message):
    __slots__ = ("a", "b", "window")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    window: str
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., window: _Optional[str] = ...) -> None: ...

class MaintenanceWindow(_message.Message):
    __slots__ = ("id", "site", "a", "b", "start", "end", "draining")
    ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    id: str
    site: str
    a: str
    b: str
    start: str
    end: str
    draining: bool
    def __init__(self, id: _Optional[str] = ..., site: _Optional[str] = ..., a: _Optional[str] = ..., b: _Optional[str] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., draining: _Optional[bool] = ...) -> None: ...

class ControllerInstance(_message.Message):
    __slots__ = ("name", "api", "leader", "generation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    api: str
    leader: bool
    generation: int
    def __init__(self, name: _Optional[str] = ..., api: _Optional[str] = ..., leader: _Optional[bool] = ..., generation: _Optional[int] = ...) -> None: ...

class Topology(_message.Message):
    __slots__ = ("name", "sites", "links", "controllers", "events", "windows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    CONTROLLERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    links: _containers.RepeatedCompositeFieldContainer[LinkState]
    controllers: _containers.RepeatedCompositeFieldContainer[ControllerInstance]
    events: _containers.RepeatedCompositeFieldContainer[SliceEvent]
    windows: _containers.RepeatedCompositeFieldContainer[MaintenanceWindow]
    def __init__(self, name: _Optional[str] = ..., sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[LinkState, _Mapping]]] = ..., controllers: _Optional[_Iterable[_Union[ControllerInstance, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[SliceEvent, _Mapping]]] = ..., windows: _Optional[_Iterable[_Union[MaintenanceWindow, _Mapping]]] = ...) -> None: ...

class GetFederationStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerStatus(_message.Message):
    __slots__ = ("domain", "address", "reachable", "error", "watching")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WATCHING_FIELD_NUMBER: _ClassVar[int]
    domain: str
    address: str
    reachable: bool
    error: str
    watching: bool
    def __init__(self, domain: _Optional[str] = ..., address: _Optional[str] = ..., reachable: _Optional[bool] = ..., error: _Optional[str] = ..., watching: _Optional[bool] = ...) -> None: ...

class BorderStatus(_message.Message):
    __slots__ = ("name", "site", "port", "bandwidth_mbps", "free_mbps", "up", "delay_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    FREE_MBPS_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    port: int
    bandwidth_mbps: float
    free_mbps: float
    up: bool
    delay_ms: float
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., port: _Optional[int] = ..., bandwidth_mbps: _Optional[float] = ..., free_mbps: _Optional[float] = ..., up: _Optional[bool] = ..., delay_ms: _Optional[float] = ...) -> None: ...

class OfferStatus(_message.Message):
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

class HeldPart(_message.Message):
    __slots__ = ("connection_id", "peer", "global_id", "state", "hold_expires_in_s", "bandwidth_mbps")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    peer: str
    global_id: str
    state: str
    hold_expires_in_s: float
    bandwidth_mbps: float
    def __init__(self, connection_id: _Optional[str] = ..., peer: _Optional[str] = ..., global_id: _Optional[str] = ..., state: _Optional[str] = ..., hold_expires_in_s: _Optional[float] = ..., bandwidth_mbps: _Optional[float] = ...) -> None: ...

class FederationStatus(_message.Message):
    __slots__ = ("federation", "domain", "peers", "borders", "offers", "parts", "slices")
    FEDERATION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    BORDERS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    federation: str
    domain: str
    peers: _containers.RepeatedCompositeFieldContainer[PeerStatus]
    borders: _containers.RepeatedCompositeFieldContainer[BorderStatus]
    offers: _containers.RepeatedCompositeFieldContainer[OfferStatus]
    parts: _containers.RepeatedCompositeFieldContainer[HeldPart]
    slices: _containers.RepeatedCompositeFieldContainer[Slice]
    def __init__(self, federation: _Optional[str] = ..., domain: _Optional[str] = ..., peers: _Optional[_Iterable[_Union[PeerStatus, _Mapping]]] = ..., borders: _Optional[_Iterable[_Union[BorderStatus, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[OfferStatus, _Mapping]]] = ..., parts: _Optional[_Iterable[_Union[HeldPart, _Mapping]]] = ..., slices: _Optional[_Iterable[_Union[Slice, _Mapping]]] = ...) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("since", "until", "link_a", "link_b")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LINK_A_FIELD_NUMBER: _ClassVar[int]
    LINK_B_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    link_a: str
    link_b: str
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., link_a: _Optional[str] = ..., link_b: _Optional[str] = ...) -> None: ...

class BookedSpan(_message.Message):
    __slots__ = ("slice", "tenant", "start", "end", "mbps", "priority", "ahead")
    SLICE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MBPS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    AHEAD_FIELD_NUMBER: _ClassVar[int]
    slice: str
    tenant: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    mbps: float
    priority: int
    ahead: bool
    def __init__(self, slice: _Optional[str] = ..., tenant: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mbps: _Optional[float] = ..., priority: _Optional[int] = ..., ahead: _Optional[bool] = ...) -> None: ...

class LinkSchedule(_message.Message):
    __slots__ = ("a", "b", "bandwidth_mbps", "spans")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_MBPS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    bandwidth_mbps: float
    spans: _containers.RepeatedCompositeFieldContainer[BookedSpan]
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., bandwidth_mbps: _Optional[float] = ..., spans: _Optional[_Iterable[_Union[BookedSpan, _Mapping]]] = ...) -> None: ...

class LinkSchedules(_message.Message):
    __slots__ = ("topology", "since", "until", "links", "others_hidden")
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    OTHERS_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    topology: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    links: _containers.RepeatedCompositeFieldContainer[LinkSchedule]
    others_hidden: bool
    def __init__(self, topology: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., links: _Optional[_Iterable[_Union[LinkSchedule, _Mapping]]] = ..., others_hidden: _Optional[bool] = ...) -> None: ...
