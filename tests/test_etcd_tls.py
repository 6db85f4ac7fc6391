"""TLS to etcd, as production etcd runs (clients and peers over TLS, client certificates
required): a real three-member etcd with certificates from slicectl.certs, a cluster
instance over it, and `slicectl controller --cluster etcds://...` leading over it. Every
way of getting it wrong — a wrong CA, no client certificate, one from another CA, a
missing or mismatched file, plaintext against TLS either way — stops the controller with
one line that names the member or file and says what to change (exit 2)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from controller.cluster import REQUEST_TIMEOUT_S, Cluster
from controller.core import SliceController
from controller.etcdstore import Etcd, EtcdStore
from controller.etcdtls import ClusterTLS
from controller.main import join_cluster
from controller.store import StoreError
from slicectl.etcdlocal import EtcdCluster, EtcdProcess, EtcdTLS
from slicectl.launcher import ControllerProcess
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from tests.fakewire import FakeWire
from tests.test_api_batch import many
from tests.test_cluster import leaders, wait_for
from topologies import load

JAPAN = load("japan-intercloud")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    return EtcdTLS.make(d / "etcd"), EtcdTLS.make(d / "other")     # two CAs: the right one and another


@pytest.fixture(scope="module")
def tls_etcd(certs, tmp_path_factory):
    with EtcdCluster(tmp_path_factory.mktemp("etcd"), members=3, tls=certs[0]) as e:
        wait_for(lambda: e.leader() is not None, 15)
        yield e


@pytest.fixture(scope="module")
def plain_etcd(tmp_path_factory):
    with EtcdProcess(tmp_path_factory.mktemp("plain")) as e:
        yield e


def files(tls: EtcdTLS, ca=None, cert=None, key=None) -> dict:
    return {"ca": str(ca or tls.ca), "cert": str(cert or tls.client_cert), "key": str(key or tls.client_key)}


def test_a_cluster_instance_leads_and_writes_over_tls(tls_etcd, certs):
    assert tls_etcd.url.startswith("etcds://") and all(m.peer_url.startswith("https://") for m in tls_etcd.members)
    tls = ClusterTLS(**files(certs[0]))
    cs = [Cluster(Etcd(tls_etcd.url, timeout=REQUEST_TIMEOUT_S, tls=tls), "/tls/", f"c{i}", f"127.0.0.1:{i}")
          for i in range(2)]
    for c in cs:
        c.start()
    try:
        leader = wait_for(lambda: leaders(cs))[0]
        store = EtcdStore(Etcd(tls_etcd.url, tls=tls), "/tls/", fence=leader.fence, leading=leader.leading)
        SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites])).create_many(many(3))
        assert [s.name for s in EtcdStore(Etcd(tls_etcd.url, tls=tls), "/tls/").load()] == [
            f"batch-{i}" for i in range(3)]
    finally:
        for c in cs:
            c.stop()


def test_slicectl_controller_joins_over_tls(tls_etcd, certs, tmp_path):
    f = files(certs[0])
    ctl = ControllerProcess("two-clouds", tmp_path / "unused.db", tmp_path / "c0.log", (
        "--cluster", tls_etcd.url, "--cluster-ca", f["ca"], "--cluster-cert", f["cert"], "--cluster-key", f["key"],
        "--name", "c0", "--no-probes", "--sla-interval", "0"))
    with ctl:
        def leads():
            try:
                t = ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=2)
            except Exception:
                return False
            return [(c.name, c.leader) for c in t.controllers] == [("c0", True)]
        wait_for(leads, 30)


@pytest.mark.parametrize("case, expected", [
    ("wrong CA", r"member 127\.0\.0\.1:\d+'s certificate is not signed by --cluster-ca .*other/ca\.pem: give the "
                 r"CA that signed etcd's --cert-file"),
    ("no client certificate", r"member 127\.0\.0\.1:\d+ wants a client certificate \(etcd's --client-cert-auth\): "
                              r"give --cluster-cert FILE and --cluster-key FILE"),
    ("another CA's client certificate", r"member 127\.0\.0\.1:\d+ does not accept the client certificate "
                                        r".*other/etcd-client\.pem: it was not signed by etcd's --trusted-ca-file"),
    ("plaintext to TLS", r"member 127\.0\.0\.1:\d+ serves TLS and this controller spoke plaintext: give --cluster "
                         r"etcds://"),
])
def test_tls_mistakes_against_a_tls_etcd_are_one_clear_line(tls_etcd, certs, case, expected):
    good, other = certs
    url, tls = {"wrong CA": (tls_etcd.url, files(good, ca=other.ca)),
                "no client certificate": (tls_etcd.url, {"ca": str(good.ca)}),
                "another CA's client certificate": (tls_etcd.url, files(good, cert=other.client_cert,
                                                                          key=other.client_key)),
                "plaintext to TLS": (tls_etcd.url.replace("etcds://", "etcd://"), None)}[case]
    with pytest.raises(StoreError) as e:
        join_cluster(url, "c9", "127.0.0.1:1", "two-clouds", tls)
    message = str(e.value)
    assert "\n" not in message and message.endswith("(and the same at every member)"), message
    assert __import__("re").search(expected, message), message


def test_tls_to_a_plaintext_etcd_says_so(plain_etcd, certs):
    with pytest.raises(StoreError, match=r"member 127\.0\.0\.1:\d+ serves plaintext, not TLS: give --cluster "
                                         r"etcd://\.\.\. and leave out --cluster-ca"):
        join_cluster(plain_etcd.url.replace("etcd://", "etcds://"), "c9", "127.0.0.1:1", "two-clouds",
                     files(certs[0]))


def test_files_that_cannot_be_used_are_named_before_etcd_is_asked(certs, tmp_path):
    good, other = certs
    url = "etcds://127.0.0.1:9"           # nothing listens: the files are refused before any request
    (tmp_path / "not.pem").write_text("hello\n")
    cases = [
        (files(good, ca=tmp_path / "missing.pem"), r"^--cluster-ca .*missing\.pem: No such file or directory$"),
        (files(good, cert=tmp_path / "not.pem"), r"^--cluster-cert .*not\.pem: not a PEM file$"),
        ({"ca": str(good.ca), "cert": str(good.client_cert)}, r"^--cluster-cert and --cluster-key go together$"),
        (files(good, key=other.client_key), r"^--cluster-cert .* with --cluster-key .*other/etcd-client\.key: cannot "
                                            r"be used \(.*is the key this certificate's\?\)$"),
    ]
    for tls, expected in cases:
        with pytest.raises(ValueError, match=expected):
            join_cluster(url, "c9", "127.0.0.1:1", "two-clouds", tls)
    with pytest.raises(ValueError, match=r"^--cluster-ca, --cluster-cert and --cluster-key are for TLS to etcd: "
                                         r"give --cluster etcds://127\.0\.0\.1:9 "):
        join_cluster("etcd://127.0.0.1:9", "c9", "127.0.0.1:1", "two-clouds", files(good))


def test_slicectl_controller_with_the_wrong_ca_exits_2_with_one_line(tls_etcd, certs):
    f = files(certs[0], ca=certs[1].ca)
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                        "--cluster", tls_etcd.url, "--cluster-ca", f["ca"], "--cluster-cert", f["cert"],
                        "--cluster-key", f["key"], "--grpc", "127.0.0.1:0", "--openflow", "127.0.0.1:0",
                        "--metrics", "off"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"slicectl: error: etcd at {tls_etcd.url}: member "), lines
    assert f"is not signed by --cluster-ca {f['ca']}" in lines[0]
