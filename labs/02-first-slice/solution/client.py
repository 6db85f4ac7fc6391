"""Lab 2: a slice over gRPC in about 30 lines.

    python client.py [--server HOST:PORT] [--name NAME] [--bandwidth MBPS]

Creates a slice between the second hosts of tokyo-dc and osaka-dc (two-clouds), waits
until it is ACTIVE, and prints its tree and worst delay. If the controller refuses it,
prints the controller's reason on stderr and exits 1.
"""
import argparse
import os
import sys
import time

import grpc

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server", default=os.environ.get("SLICECTL_SERVER", "127.0.0.1:50051"))
    p.add_argument("--name", default="from-client")
    p.add_argument("--bandwidth", type=float, default=5)
    args = p.parse_args()
    stub = pb_grpc.SliceServiceStub(grpc.insecure_channel(args.server))
    spec = pb.SliceSpec(name=args.name, tenant="lab", bandwidth_mbps=args.bandwidth, endpoints=[
        pb.Endpoint(site="tokyo-dc", port=2, ip="10.0.1.2"),
        pb.Endpoint(site="osaka-dc", port=2, ip="10.0.4.2")])
    try:
        stub.CreateSlice(pb.CreateSliceRequest(spec=spec), timeout=30)
        s = stub.GetSlice(pb.GetSliceRequest(name=args.name), timeout=10)
        while s.state != pb.SLICE_STATE_ACTIVE:
            time.sleep(0.1)
            s = stub.GetSlice(pb.GetSliceRequest(name=args.name), timeout=10)
    except grpc.RpcError as e:
        print(f"refused: {e.details()}", file=sys.stderr)
        return 1
    print(f"{s.spec.name} is ACTIVE, worst delay {s.worst_delay_ms:.2f} ms, tree:",
          ", ".join(f"{l.a}—{l.b}" for l in s.tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
