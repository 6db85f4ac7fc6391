"""Where a controller listens and keeps its state unless told otherwise: one definition for
the server (`slicectl controller`) and its clients (`--server`). Loopback only by
default: the API and the OpenFlow listener are not for other machines until an operator
says so."""

DEFAULT_GRPC = "127.0.0.1:50051"
DEFAULT_OPENFLOW = "127.0.0.1:6653"
DEFAULT_STORE = "intercloud-slicing.db"
