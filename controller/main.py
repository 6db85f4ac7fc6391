"""``slicectl controller``: load the topology and the store, start the gRPC API and the
os-ken OpenFlow application, run until interrupted."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from dataclasses import replace

from controller.settings import ProbeSettings
from proto.defaults import (DEFAULT_AUDIT_INTERVAL_S, DEFAULT_GRPC, DEFAULT_METRICS, DEFAULT_OPENFLOW,
                            DEFAULT_STORE, DHCP_LEASE_S, MAX_SLICES_PER_TENANT, MAX_WATCHES,
                            MAX_WATCHES_PER_CLIENT, STATS_INTERVAL_S, SWITCH_ADDRESS_GRACE_S)


def _split(addr: str, what: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{what} must be HOST:PORT, got {addr!r}")
    return host.strip("[]"), int(port)


def _check_free(what: str, host: str, port: int) -> None:
    """Fail early and clearly when an address is taken (another controller running?)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ValueError(f"{what} {host}:{port} cannot be used: {e.strerror} "
                             "(is another controller running?)") from None


def run(topology_name: str, store_path: str = DEFAULT_STORE, grpc_addr: str = DEFAULT_GRPC,
        openflow_addr: str = DEFAULT_OPENFLOW, log_level: str = "INFO",
        audit_interval: float = DEFAULT_AUDIT_INTERVAL_S,
        probes: "dict | ProbeSettings | None" = ProbeSettings(),
        metrics_addr: str | None = DEFAULT_METRICS, sla: dict | None = None, dhcp_lease_s: int = DHCP_LEASE_S,
        stats_interval_s: float = STATS_INTERVAL_S, security: dict | None = None,
        watch_limits: tuple[int, int] = (MAX_WATCHES, MAX_WATCHES_PER_CLIENT),
        max_slices_per_tenant: int = MAX_SLICES_PER_TENANT,
        openflow_tls: dict | None = None, cluster_url: str | None = None, name: str | None = None,
        tenant_policy: str | None = None, switch_address_grace_s: float = SWITCH_ADDRESS_GRACE_S,
        cluster_tls: dict | None = None, federation: dict | None = None) -> int:
    """Run until interrupted. ``probes``: settings of controller.liveness.LinkMonitor
    (``interval_s``, ``misses``), None for no probes. ``metrics_addr``: where Prometheus
    scrapes /metrics (None: nowhere). ``sla``: settings of controller.sla.SlaMonitor
    plus ``reroute``, None for no SLA monitoring. ``dhcp_lease_s``: the lease given to hosts
    at endpoints without a given address. ``stats_interval_s``: how often every slice's
    counters are read for its current rates (0: never). ``security``: ``tls_cert``,
    ``tls_key``, ``client_ca`` (file paths), ``tokens`` (a tokens file), ``admins``
    (certificate names), ``insecure`` (allow plaintext beyond loopback); see
    :func:`api_security`. ``watch_limits``: open watch streams allowed in total and per
    client. ``max_slices_per_tenant``: a tenant's quota (0: none). ``openflow_tls``:
    ``cert``, ``key``, ``ca`` files: switches connect over TLS with certificates the CA
    signed (see :func:`openflow_args`). ``cluster_url``: ``etcd://HOST:PORT[,...]``: the
    state is in etcd instead of ``store_path``, and this is one instance (``name``) of a
    cluster (controller.cluster); ``etcds://`` with ``cluster_tls`` (``ca``, ``cert``,
    ``key`` files: controller.etcdtls) for TLS to etcd. ``tenant_policy``: the YAML file
    of what each tenant may use (controller.tenancy; None: the default policy, and
    SetTenantPolicy is refused). ``switch_address_grace_s``: on plaintext OpenFlow, how
    long a dpid stays bound to the address it came from after its switch goes
    (controller.identity). SIGHUP reloads the tokens, TLS files and tenant policy and
    releases those bindings (controller.reload). ``federation``: ``domain`` (this
    controller's domain of the federation file ``topology_name``), ``peers`` (domain ->
    HOST:PORT of its federation API), ``address`` (where this domain's federation API
    listens), ``hold_s`` (how long a peer's reservation is held): see
    :func:`federation_role`."""
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("os_ken.controller.controller", "os_ken.base.app_manager", "ofp_event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    of_host, of_port = _split(openflow_addr, "--openflow")
    addresses = [("--openflow", (of_host, of_port)), ("--grpc", _split(grpc_addr, "--grpc"))]
    if metrics_addr:
        addresses.append(("--metrics", _split(metrics_addr, "--metrics")))
    from controller.reload import Reloads

    reloads = Reloads()
    credentials, authenticator, warnings = api_security(_split(grpc_addr, "--grpc")[0], **(security or {}),
                                                        reloads=reloads)
    from controller.auth import check_exposure
    insecure = bool((security or {}).get("insecure"))
    of_warning = check_exposure("OpenFlow", of_host, bool(openflow_tls), insecure)
    metrics_protection = metrics_tls(**(security or {}))
    metrics_warning = check_exposure("the metrics (--metrics)", _split(metrics_addr, "--metrics")[0],
                                     metrics_protection is not None, insecure) if metrics_addr else None
    warnings = warnings + [w for w in (of_warning, metrics_warning) if w]
    for what, (host, port) in addresses:
        _check_free(what, host, port)
    from controller.tenancy import TenantPolicy

    topology, federation = _federated_topology(topology_name, federation, bool(cluster_url))
    # PolicyError (a ValueError): one line, exit 2
    policy = TenantPolicy(topology, tenant_policy, clustered=bool(cluster_url))
    cluster, store = _open_store(store_path, cluster_url, name, grpc_addr, topology.name, cluster_tls)
    settings = replace(_settings(audit_interval, probes, sla, dhcp_lease_s, stats_interval_s, watch_limits,
                                 max_slices_per_tenant),
                       switch_address_grace_s=None if openflow_tls else switch_address_grace_s)
    reloads.add("the tenant policy", policy.reload)
    api = {"address": grpc_addr, "credentials": credentials, "authenticator": authenticator, "warnings": warnings,
           "policy": policy, "metrics_tls": metrics_protection, "reloads": reloads, "federation": federation}
    _serve(topology, store, settings, cluster, api, openflow_args(of_host, of_port, openflow_tls), metrics_addr,
           openflow_addr)
    # os-ken's native hub leaves its OpenFlow listener thread running; everything worth
    # keeping is committed to the store, so leave now rather than wait for it.
    _save_coverage()
    os._exit(0)


def _open_store(store_path: str, cluster_url: str | None, name: str | None, grpc_addr: str, topology: str,
                cluster_tls: dict | None = None):
    """(the cluster this instance joined or None, the store): SQLite at ``store_path``, or
    the cluster's etcd. ValueError (one line, exit 2) for a store that cannot be used."""
    from controller.store import Store, StoreError

    if cluster_tls and any(cluster_tls.values()) and not cluster_url:
        raise ValueError("--cluster-ca, --cluster-cert and --cluster-key are for --cluster etcds://...")
    try:
        if cluster_url:
            return join_cluster(cluster_url, name or f"{socket.gethostname()}-{grpc_addr.rsplit(':', 1)[1]}",
                                grpc_addr, topology, cluster_tls)
        return None, Store(store_path)
    except StoreError as e:
        raise ValueError(str(e)) from None


def _settings(audit_interval: float, probes: "dict | ProbeSettings | None", sla: dict | None, dhcp_lease_s: int,
              stats_interval_s: float, watch_limits: tuple[int, int], max_slices_per_tenant: int):
    """The one Settings object, from the command line's values."""
    from controller.settings import Settings, SlaSettings

    return Settings(audit_interval_s=audit_interval or None,
                    probes=ProbeSettings(**probes) if isinstance(probes, dict) else probes,
                    sla=SlaSettings(tuple(sorted((k, v) for k, v in sla.items() if k != "reroute")),
                                    sla.get("reroute", True)) if sla else None,
                    dhcp_lease_s=dhcp_lease_s, stats_interval_s=stats_interval_s,
                    max_slices_per_tenant=max_slices_per_tenant, watch_limits=tuple(watch_limits))


def _serve(topology, store, settings, cluster, api: dict, of_args: list[str], metrics_addr: str | None,
           openflow_addr: str) -> None:
    """Build the controller (controller.wiring), start it, then os-ken's OpenFlow listener
    with the app, the gRPC API and the metrics; run until SIGTERM or Ctrl-C, then stop
    everything, last started first."""
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    from os_ken.lib import hub

    from controller.metrics import Metrics
    from controller.service import WatchLimits, serve
    from controller.wiring import build

    metrics = Metrics() if metrics_addr else None
    wiring = build(topology, store, settings, cluster, metrics)
    stoppers: list = [wiring.close]
    if wiring.channels.addresses is not None:
        api["reloads"].add("switch address bindings", wiring.channels.addresses.release_gone)
    cfg.CONF(args=of_args, project="os_ken", default_config_files=[])

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    api["reloads"].on_sighup()   # reload, never die (what reloads: controller.reload)
    manager = AppManager.get_instance()
    log = logging.getLogger("intercloud.controller")
    try:
        wiring.start()   # the owner thread before any switch can connect
        manager.load_apps(["controller.app"])
        services = manager.instantiate_apps(wiring=wiring, **manager.create_contexts())
        for warning in api["warnings"]:
            logging.getLogger("intercloud.api").warning(warning)
        role = None
        if api["federation"]:
            role = federation_role(wiring.controller, api["federation"], api["policy"], store.path,
                                   api["credentials"], api["authenticator"], stoppers)
        server = serve(wiring.controller, api["address"], metrics.api_seconds if metrics else None,
                       api["credentials"], api["authenticator"], WatchLimits(*settings.watch_limits), cluster,
                       wiring.leadership.leads, reads=wiring.reads, policy=api["policy"], federation=role)
        stoppers.append(lambda: server.stop(grace=1))
        if metrics:
            stoppers.append(metrics.serve(*_split(metrics_addr, "--metrics"), api["metrics_tls"]).shutdown)
        log.info("controller up: topology %s (%d sites), %d slices restored from %s; gRPC on %s, OpenFlow on %s",
                 topology.name, len(topology.sites), len(wiring.reads.call(wiring.reads.names)), store.path,
                 api["address"], openflow_addr)
        hub.joinall(services)
    except KeyboardInterrupt:
        log.info("stopping (state is in %s)", store.path)
    finally:
        try:
            manager.close()
        finally:
            while stoppers:
                stoppers.pop()()
            store.close()
            logging.shutdown()


def _federated_topology(path: str, federation: dict | None, clustered: bool):
    """(the topology to run, the federation options with the federation loaded): the
    topology file ``path``, or the domain ``federation['domain']`` of the federation file
    ``path``; ValueError naming what is wrong."""
    from topologies import load
    from topologies.federation import domain_topology, is_federation_file, load_federation, merged_topology

    if not federation:
        if is_federation_file(path):   # the whole federation as one operator's WAN: the baseline to compare with
            return merged_topology(load_federation(path)), None
        return load(path), None
    if clustered:
        raise ValueError("--domain with --cluster: a federated domain runs as one controller for now")
    _check_free("--federation-listen", *_split(federation["address"], "--federation-listen"))
    fed = load_federation(path)
    domain = federation["domain"]
    if not fed.has_domain(domain):
        raise ValueError(f"--domain: no domain {domain!r} in {path} (domains: "
                         f"{', '.join(d.name for d in fed.domains)})")
    peers = dict(federation.get("peers") or {})
    for name, addr in peers.items():
        if not fed.has_domain(name) or name == domain:
            raise ValueError(f"--peer {name}={addr}: {name!r} is not another domain of {fed.name} (domains: "
                             f"{', '.join(d.name for d in fed.domains)})")
        _split(addr, f"--peer {name}")
    return domain_topology(fed, domain), {**federation, "fed": fed, "peers": peers}


def federation_role(controller, federation: dict, policy, store_path: str, credentials, authenticator,
                    stoppers: list):
    """Start this domain's side of the federation: the provider answering peers (its API
    on ``federation['address']``, with the slice API's TLS and authenticator when it has
    them) and the home of slices across domains; their stoppers are added to ``stoppers``."""
    from controller.fedapi import FederationRole
    from controller.federation import FederationProvider
    from controller.fedhome import FederationHome
    from controller.fedpeers import LocalDomain, PeerDomain
    from controller.fedservice import serve_federation

    fed, domain = federation["fed"], federation["domain"]
    base = store_path if "://" not in store_path else f"intercloud-{domain}"
    provider = FederationProvider(controller, fed, domain, policy, hold_s=federation.get("hold_s") or 60.0,
                                  records=f"{base}.federation-parts.json")
    provider.start()
    stoppers.append(provider.close)
    server = serve_federation(provider, federation["address"], credentials, authenticator)
    stoppers.append(lambda: server.stop(grace=1))
    peer_tls = federation.get("peer_tls")
    peers = {n: PeerDomain(n, a, domain, peer_tls) for n, a in sorted(federation["peers"].items())}
    home = FederationHome(fed, LocalDomain(provider), peers, records=f"{base}.federation-home.json")
    home.start()
    stoppers.append(home.close)
    logging.getLogger("intercloud.federation").info(
        "domain %s of federation %s: federation API on %s, peers %s", domain, fed.name, federation["address"],
        ", ".join(f"{n}={a}" for n, a in sorted(federation["peers"].items())) or "none")
    return FederationRole(provider, home, dict(federation["peers"]))


def join_cluster(url: str, name: str, api: str, topology: str, tls: dict | None = None):
    """(this instance's controller.cluster.Cluster, the cluster's EtcdStore), joined: the
    state of every instance running ``topology`` is under /intercloud-slicing/TOPOLOGY/.
    ``tls``: ``ca``, ``cert``, ``key`` for an ``etcds://`` URL, checked before etcd is
    asked anything (ValueError naming the option or file)."""
    from controller import etcdtls
    from controller.cluster import REQUEST_TIMEOUT_S, Cluster
    from controller.etcdstore import Etcd, EtcdStore, parse_endpoints
    from controller.store import StoreError

    if "/" in name or not name:
        raise ValueError(f"--name {name!r}: a cluster instance's name cannot be empty or contain '/'")
    parse_endpoints(url)
    files = etcdtls.check(url, etcdtls.ClusterTLS(**(tls or {})))
    etcd = Etcd(url, tls=files)
    prefix = f"/intercloud-slicing/{topology}/"
    cluster = Cluster(etcd.sharing(timeout=REQUEST_TIMEOUT_S), prefix, name, api)
    try:
        _wait_name_free(cluster, name)          # the first request to etcd
    except StoreError as e:
        members = [f"{h}:{p}" for h, p in parse_endpoints(url)]
        raise StoreError(etcdtls.unanswered(str(e), etcd.url, members, files) or str(e)) from None
    cluster.join()
    return cluster, EtcdStore(etcd, prefix, fence=cluster.fence, leading=cluster.may_write,
                              diverged=cluster.yield_leadership)


def _wait_name_free(cluster, name: str) -> None:
    """Wait until no live instance has ``name``: one restarted at once after a crash finds
    its previous run still registered until that run's lease expires (LEASE_TTL_S), as a
    supervisor restarting it would. ValueError if the name is still taken after that: a
    controller that is running has it."""
    from controller.cluster import LEASE_TTL_S

    deadline = time.monotonic() + LEASE_TTL_S + 1.0
    while True:
        taken = [i for i in cluster.instances() if i.name == name]
        if not taken:
            return
        if time.monotonic() > deadline:
            raise ValueError(f"--name {name}: an instance of that name is in the cluster already (at "
                             f"{taken[0].api}) and alive: give this one another --name")
        time.sleep(0.2)


def openflow_args(host: str, port: int, tls: dict | None) -> list[str]:
    """os-ken's listener options: plain TCP, or TLS with the controller's certificate and
    the CA every switch certificate must chain to (a switch without one is refused at the
    handshake). ValueError naming a file that cannot be used."""
    if not tls:
        return ["--ofp-listen-host", host, "--ofp-tcp-listen-port", str(port)]
    for option, path in (("--openflow-cert", tls.get("cert")), ("--openflow-key", tls.get("key")),
                         ("--openflow-ca", tls.get("ca"))):
        if not path:
            raise ValueError(f"OpenFlow over TLS needs {option}")
        _read_pem(path, option)
    return ["--ofp-listen-host", host, "--ofp-ssl-listen-port", str(port), "--ctl-privkey", tls["key"],
            "--ctl-cert", tls["cert"], "--ca-certs", tls["ca"]]


def api_security(host: str, tls_cert: str | None = None, tls_key: str | None = None,
                 client_ca: str | None = None, tokens: str | None = None, admins: tuple[str, ...] = (),
                 insecure: bool = False, reloads=None):
    """(server credentials or None, authenticator or None, warnings) for the API, from
    the files given; ValueError naming the file or option that cannot be used.
    ``reloads``: a controller.reload.Reloads to which the tokens file and the TLS files
    are added (SIGHUP reads them again)."""
    from controller.auth import Authenticator, check_exposure, is_loopback, load_tokens
    from controller.reload import ServerCertificates

    if bool(tls_cert) != bool(tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if client_ca and not tls_cert:
        raise ValueError("--client-ca needs TLS: give --tls-cert and --tls-key too")
    if admins and not client_ca:
        raise ValueError("--admin names a client certificate: give --client-ca too (token admins are "
                         "marked in the tokens file)")
    credentials = None
    if tls_cert:
        certificates = ServerCertificates(tls_cert, tls_key, client_ca, _read_pem)
        credentials = certificates.credentials()
        if reloads is not None:
            reloads.add("the API's TLS certificate, key and client CA", certificates.reload)
    authenticator = None
    if client_ca or tokens:
        authenticator = Authenticator(load_tokens(tokens) if tokens else [], bool(client_ca), set(admins))
        if tokens and reloads is not None:
            def reload_tokens(auth=authenticator) -> str:
                loaded = load_tokens(tokens)
                auth.set_tokens(loaded)
                return f"{len(loaded)} tokens from {tokens}"
            reloads.add("the tokens file", reload_tokens)
    warnings = [w for w in (check_exposure("the gRPC API", host, credentials is not None, insecure),) if w]
    if authenticator is None and not is_loopback(host):
        warnings.append("the gRPC API has no client authentication (--client-ca or --tokens): every caller "
                        "may do everything")
    return credentials, authenticator, warnings


def metrics_tls(tls_cert: str | None = None, tls_key: str | None = None, client_ca: str | None = None,
                **_other) -> dict | None:
    """How /metrics is protected: as the API is (its certificate, and its client CA when
    clients need certificates), or not at all when the API is plaintext (then only on
    loopback, unless --insecure: controller.auth.check_exposure). Bearer tokens are the
    API's alone: Prometheus scrapes with a client certificate."""
    if not tls_cert or not tls_key:
        return None
    return {"cert": tls_cert, "key": tls_key, "client_ca": client_ca}


def _read_pem(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise ValueError(f"{what} {path}: {e.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{what} {path}: not a PEM file")
    return data


def _save_coverage() -> None:
    """os._exit skips atexit, where coverage.py (when `make coverage` measures this
    process) would save what it measured."""
    module = sys.modules.get("coverage")
    current = getattr(getattr(module, "Coverage", None), "current", None)
    cov = current() if current else None
    if cov is not None:
        cov.stop()
        cov.save()
