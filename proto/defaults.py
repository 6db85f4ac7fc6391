"""Where a controller listens, keeps its state and how often it audits its switches unless
told otherwise: one definition for the server (`slicectl controller`) and its clients
(`--server`). Loopback only by
default: the API and the OpenFlow listener are not for other machines until an operator
says so."""

DEFAULT_GRPC = "127.0.0.1:50051"
DEFAULT_OPENFLOW = "127.0.0.1:6653"
DEFAULT_STORE = "intercloud-slicing.db"
DEFAULT_METRICS = "127.0.0.1:9464"   # Prometheus scrapes /metrics here
DEFAULT_FEDERATION = "127.0.0.1:50061"   # a domain's federation API (peers call it)
FAILPOINTS_ENV = "INTERCLOUD_FAILPOINTS"   # tests: the directory of controller.failpoints' files
FEDERATION_HOLD_S = 60.0         # a peer's reservation is held this long for its commit
DEFAULT_AUDIT_INTERVAL_S = 10.0   # every switch read and repaired this often
PROBE_INTERVAL_S = 0.05          # a liveness probe over every inter-site link this often
LINK_HOLD_DOWN_S = 1.0           # a link that comes back is used again only after this long up
PROBE_MISSES = 3                 # intervals (plus the round trip) without an answer: link down
SLA_INTERVAL_S = 1.0             # a delay probe between every two endpoint sites of a slice this often
SLA_WINDOW = 5                   # a pair's delay: the smallest of its last 5 probes
SLA_HOLD_S = 3.0                 # over (or within) the bound this long before the verdict changes
SLA_MAX_PROBES_PER_S = 500.0     # at most this many delay probes a second: past it, each pair in turn
DHCP_LEASE_S = 3600              # the lease the controller gives hosts at endpoints without an address
STATS_INTERVAL_S = 5.0           # every slice's counters read this often for its current rates (0: never)
MAX_WATCHES = 1000               # open watch streams allowed in total
MAX_WATCHES_PER_CLIENT = 100     # and per client
MAX_SLICES_PER_TENANT = 0        # a tenant's quota of slices (0: none)
SWITCH_ADDRESS_GRACE_S = 600.0   # plaintext OpenFlow: a dpid stays bound to its address this long after it goes
SLA_TOLERANCE_MS = 0.0           # how far a measured delay may exceed its bound before it counts
MAX_BATCH = 1000                 # slice specs in one CreateSlices request at the most
VERIFY_PARALLEL = 12             # slicectl verify: checks at once (hundreds of pings stall a userspace datapath)
VERIFY_RTT_TOLERANCE_MS = 5.0    # slicectl verify: allowance over 2 x the one-way bound, unless the inventory says
BENCH_SEED = 1                   # the random slices of the benchmarks, unless told otherwise
BENCH_ENDPOINTS_MIN = 2          # slicectl bench engine: endpoints per random slice, at least
BENCH_ENDPOINTS_MAX = 10         # and at most
RESULTS_DIR = "results"          # where the demo writes its run record, report page and map
RUN_RECORD = "demo-run.json"     # the demo's run record, in RESULTS_DIR
REPORT_PAGE = "report.html"      # the report page, in RESULTS_DIR
