"""Generated gRPC code (make proto) and its .proto source."""
