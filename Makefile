# Two commands do everything: `sudo make demo` and `sudo make test`. Both run `setup`,
# which is idempotent: a second run only checks and changes nothing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SLICECTL := $(VENV)/bin/slicectl
DEB_PACKAGES := mininet openvswitch-switch iperf3 iputils-ping iputils-arping ethtool iproute2 procps \
                psmisc util-linux python3-venv python3-pip isc-dhcp-client openssl etcd-server
OVS_CTL := /usr/share/openvswitch/scripts/ovs-ctl
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo-federation bench-schedule lock test-latest bench-batch bench-seed lab-check lab-list fuzz certs report coverage bench-engine bench-ttc bench-failover bench-chaos wan-check setup path deb-packages ovs ovs-restart venv demo test test-fast bench-wan wan-clean proto clean help
.DEFAULT_GOAL := help

help:
	@echo "sudo make demo    controller + japan-intercloud in Mininet + example slices: connectivity, isolation, time to connectivity, map"
	@echo "sudo make demo-federation   three operators, one controller each (japan-korea): time to connectivity vs one controller, a border cut, a domain's controller killed, isolation"
	@echo "sudo make wan-check   the WAN alone: fidelity table of every japan-intercloud link"
	@echo "sudo make bench-ttc   time to connectivity, p50/p99 over 50 slice creations"
	@echo "sudo make bench-batch  1,000 slices created and deleted one by one, by 16 clients at once (one by one each), then in one CreateSlices and one DeleteSlices: slices/s of each, and where a create's time goes"
	@echo "sudo make bench-seed   the programme's scale live: ~3,600 slices, 10,000+ VLAN endpoints on 12 fabric clouds (69 switches), in batches and one by one; time to connectivity, a lost cloud re-homed, memory, flow entries per switch"
	@echo "sudo make bench-failover   outage under cuts, a silent link, a lost cloud, drain, scale-out"
	@echo "sudo make bench-chaos      a 3-controller, 3-member etcd cluster under faults of its own parts"
	@echo "make report       results/report.html from the last demo run and the benchmarks' JSON"
	@echo "sudo make test    run every test (root: Mininet and Open vSwitch tests included)"
	@echo "sudo make setup   install Debian packages, start Open vSwitch, create .venv, link /usr/local/bin/slicectl"
	@echo "sudo make bench-wan TOPOLOGY=global-intercloud   full fidelity benchmark"
	@echo "sudo make coverage  test coverage, with and without the Mininet tests (results/coverage-*.txt)"
	@echo "make bench-schedule  10,000 slices booked ahead over a week (japan-intercloud, generated 200-site WAN): one more booking"
	@echo "make bench-engine   slice engine benchmark (GEANT 2012, generated 200- and 750-site WANs; 1k and 10k slices; scarce capacity; 750 sites at 2x capacity on MPLS: no refusal for tags)"
	@echo "make lock           refresh requirements.lock (newest versions setup.cfg allows, hashed); then make proto"
	@echo "sudo make test-latest   every test with the newest allowed versions, in a scratch venv (drift check)"
	@echo "make proto          regenerate the gRPC code from proto/ (committed)"
	@echo "make certs CLIENTS='acme ops' HOSTS='ctl.example 10.0.0.5'   a local CA, the controller's (for localhost and HOSTS) and clients' TLS certificates in certs/"
	@echo "make fuzz           10,000 random specs and request bodies against the API (quick mode in make test)"
	@echo "sudo make lab-check N=NN   the lab course's self-check of exercise NN (SOLUTION=1: the reference)"
	@echo "make lab-list       the lab course's exercises and their status on this machine"
	@echo "sudo make wan-clean   remove a WAN left behind by a killed run"
	@echo "sudo make ovs-restart restart Open vSwitch with the settings the emulation needs"

setup: deb-packages venv ovs path

# `slicectl` on every shell's PATH and sudo's: a link in /usr/local/bin to this clone's .venv,
# made as root (a second run only checks). Without root: `. .venv/bin/activate` in each shell.
# Not under CI: a throwaway clone must not take over the machine's command (tests need no link).
SLICECTL_LINK := /usr/local/bin/slicectl
path: venv
	@if [ -n "$$CI" ]; then :; \
	elif [ "$$(readlink $(SLICECTL_LINK) 2>/dev/null)" = "$(CURDIR)/$(SLICECTL)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && { [ ! -e $(SLICECTL_LINK) ] || [ -L $(SLICECTL_LINK) ]; }; then \
	  ln -sfn "$(CURDIR)/$(SLICECTL)" $(SLICECTL_LINK) && echo "linked $(SLICECTL_LINK) -> $(CURDIR)/$(SLICECTL)"; \
	else echo "$(SLICECTL_LINK) is not this clone's slicectl (not root, or a file of its own there): run 'sudo make setup', or '. .venv/bin/activate'" >&2; fi

deb-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing; run: sudo make setup" >&2; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Open vSwitch is started by topologies/emulation/platform.py, which knows how (and why).
ovs: venv
	@if ! ovs-vsctl --timeout=5 show >/dev/null 2>&1 && [ "$$(id -u)" != 0 ]; then \
	  echo "Open vSwitch is not running; run: sudo make setup" >&2; exit 1; fi
	@$(PY) -m topologies.emulation.platform

ovs-restart: venv
	$(PY) -m topologies.emulation.platform --restart

# Debian's Mininet lives in /usr/lib/python3/dist-packages, seen only by Debian's python3.
# Exactly the versions in requirements.lock (hashed), whatever PyPI holds today; the project
# itself is installed editable on top, with no dependency resolution of its own.
PIP := $(PY) -m pip install -q --disable-pip-version-check
venv: $(STAMP)
$(STAMP): requirements.lock setup.cfg pyproject.toml
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PIP) --require-hashes -r requirements.lock
	$(PIP) --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# requirements.lock anew from setup.cfg's floors: the newest versions they allow, each with its
# hashes (pip-tools, in a venv of its own). Then `make proto` and `make test`, and commit all.
LOCK_VENV := .venv-lock
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { /usr/bin/python3 -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install -q --disable-pip-version-check pip-tools; }
	$(LOCK_VENV)/bin/pip-compile -q --upgrade --extra test --all-build-deps --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host -o requirements.lock setup.cfg

# Drift seen before it bites: the newest versions setup.cfg allows, in a scratch venv, and
# every test with them (not in CI: a new upstream release must not break a landing).
LATEST_VENV := .venv-latest
test-latest: deb-packages ovs
	rm -rf $(LATEST_VENV)
	/usr/bin/python3 -m venv --system-site-packages $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade -e '.[test]'
	$(LATEST_VENV)/bin/python -m pip list --format=freeze > $(LATEST_VENV)/versions.txt
	@echo "newest allowed versions: $(LATEST_VENV)/versions.txt"
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(SLICECTL) demo

# Three operators on one Mininet (japan-korea), each with its own controller, and slices across
# them (issue 26): results/demo-federation.json; exit 0 only if every goal held (~1 min).
demo-federation: setup
	$(SLICECTL) demo --federation

# The WAN alone: bring up japan-intercloud, measure every link against its configuration.
wan-check: setup
	$(SLICECTL) wan check japan-intercloud

# Time to connectivity over 50 slice creations on japan-intercloud (Mininet, root).
bench-ttc: setup
	@mkdir -p results
	$(SLICECTL) bench connectivity --creations 50 --json > results/ttc-japan.json; rc=$$?; cat results/ttc-japan.json; exit $$rc

# 1,000 slices on japan-intercloud, created and deleted one at a time, created one at a time by 16
# clients at once (group commit), then in one CreateSlices and one DeleteSlices (Mininet, root).
bench-batch: setup
	@mkdir -p results
	$(SLICECTL) bench batch --slices 1000 --batch 1000 --clients 16 --json results/batch-japan.json

# The programme's scale (issue 28): ~3,600 slices with over 10,000 VLAN endpoints on seed-scale (12 clouds
# with fabrics, 69 switches), then time to connectivity and a lost cloud at that load (Mininet, root, ~3 min).
bench-seed: setup
	@mkdir -p results
	$(SLICECTL) bench seed --json results/seed-scale.json

# Outage of a slice under each kind of failure, 10 repetitions each (Mininet, root, ~10 min).
bench-failover: setup
	@mkdir -p results
	$(SLICECTL) bench failover --reps 10 --json results/failover-japan.json

# A cluster of three controllers on a three-member etcd under faults of its own parts, 3 repetitions
# each (Mininet, root, ~25 min).
bench-chaos: setup
	@mkdir -p results
	$(SLICECTL) bench chaos --reps 3 --json results/chaos.json

# The demo writes results/report.html itself; this adds the benchmarks' figures to it.
# The API fuzzed with 10,000 random specs and 10,000 random request bodies (hypothesis).
FUZZ_EXAMPLES ?= 10000
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -s -p no:cacheprovider tests/test_fuzz.py

# A local CA and certificates for labs and tests (slicectl certs; openssl). HOSTS: the names and
# addresses clients reach the controller at, besides localhost (its certificate must cover them).
CLIENTS ?= admin
HOSTS ?=
certs: venv
	$(PY) -m slicectl.cli certs certs $(foreach c,$(CLIENTS),--client $(c)) $(foreach h,$(HOSTS),--host $(h))

report: venv
	$(SLICECTL) report --run results/demo-run.json --ttc results/ttc-japan.json --failover results/failover-japan.json

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Coverage of every test (Mininet ones too, the controller's child processes included),
# then of the tests that need no root: results/coverage-all.txt and coverage-no-root.txt.
coverage: setup
	@mkdir -p results; rm -f results/.coverage*
	$(PY) -m coverage run -m pytest -q $(PYTEST_ARGS); rc=$$?; $(PY) -m coverage combine -q; \
	  $(PY) -m coverage report > results/coverage-all.txt; rm -f results/.coverage*; \
	  $(PY) -m coverage run -m pytest -q -m "not mininet" $(PYTEST_ARGS) || rc=1; $(PY) -m coverage combine -q; \
	  $(PY) -m coverage report > results/coverage-no-root.txt; \
	  grep -E "^(controller|Name|TOTAL)" results/coverage-all.txt; echo "-- without the Mininet tests:"; \
	  grep -E "^(controller|Name|TOTAL)" results/coverage-no-root.txt; exit $$rc

test-fast: setup
	$(PY) -m pytest -m "not mininet" $(PYTEST_ARGS)

TOPOLOGY ?= japan-intercloud
bench-wan: setup
	@mkdir -p results
	$(SLICECTL) wan check $(TOPOLOGY) --json > results/wan-$(notdir $(basename $(TOPOLOGY))).json; \
	  rc=$$?; $(PY) -c "import json,sys; from slicectl.report import fidelity_table; \
	  print(fidelity_table(json.load(open(sys.argv[1]))))" results/wan-$(notdir $(basename $(TOPOLOGY))).json; exit $$rc

# The engine's benchmark (no root needed): Topology Zoo's GEANT, a generated 200-site and a
# generated 750-site WAN, each at 1,000 and 10,000 slices, and the 200-site WAN at a tenth of
# its capacity (scarce: slices preempt each other). Figures in results/engine-*.json; the
# run takes ~5 minutes (ENGINE_SLICES="1000" for a quick one).
ENGINE_SLICES ?= 1000 10000
ENGINE_RUNS := Geant2012 generated:200 generated:750
bench-engine: venv
	@mkdir -p results
	@rc=0; files=""; \
	for t in $(ENGINE_RUNS); do for n in $(ENGINE_SLICES); do \
	  f=results/engine-$$(echo $$t | tr ':' '-')-$$n.json; files="$$files $$f"; \
	  $(SLICECTL) bench engine --topology $$t --slices $$n --json > $$f || rc=1; \
	done; done; \
	f=results/engine-generated-200-scarce-1000.json; files="$$files $$f"; \
	$(SLICECTL) bench engine --topology generated:200 --slices 1000 --capacity-scale 0.1 --json > $$f || rc=1; \
	f=results/engine-generated-750-x2-mpls-10000.json; files="$$files $$f"; \
	$(SLICECTL) bench engine --topology generated:750 --slices 10000 --capacity-scale 2 --transport mpls --json > $$f; \
	$(PY) -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(bool(r['rejected_by_constraint'].get('tags')))" $$f \
	  || { echo "bench-engine: MPLS still ran out of tags ($$f)" >&2; rc=1; }; \
	$(PY) -c "import json,sys; from slicectl.bench import format_report; \
	  [print(format_report(json.load(open(f)))) for f in sys.argv[1:]]" $$files; \
	if [ $$rc != 0 ]; then echo "bench-engine: a target was missed (see above)" >&2; fi; exit $$rc

# Slices booked ahead (issue 27): 10,000 bookings over a week, then one more booking timed
# 300 times (p99 <= 20 ms, <= 500 MB). japan-intercloud's links are 100 Mbit/s: its slices
# are small (2-3 endpoints, a tenth of the bandwidth) so that the week holds most of them.
bench-schedule: venv
	@mkdir -p results
	@rc=0; \
	$(SLICECTL) bench schedule --topology japan-intercloud --endpoints-max 3 --mbps-scale 0.1 --json > results/schedule-japan-intercloud.json || rc=1; \
	$(SLICECTL) bench schedule --topology generated:200 --json > results/schedule-generated-200.json || rc=1; \
	$(PY) -c "import json,sys; from slicectl.schedulebench import format_report; \
	  [print(format_report(json.load(open(f)))) for f in sys.argv[1:]]" \
	  results/schedule-japan-intercloud.json results/schedule-generated-200.json; exit $$rc

# Generated gRPC code is committed; tests/test_proto.py fails if it differs from this.
PROTOS := proto/intercloud/slicing/v1/slicing.proto proto/intercloud/federation/v1/federation.proto
proto: venv
	$(PY) -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. $(PROTOS)

# The lab course (labs/): `sudo make lab-check N=03` checks your work on exercise 3,
# `sudo make lab-check N=03 SOLUTION=1` the reference solution; `make lab-list` lists them.
lab-check: setup
	@test -n "$(N)" || { echo "usage: sudo make lab-check N=NN [SOLUTION=1]   (make lab-list lists them)" >&2; exit 2; }
	$(SLICECTL) lab check $(N) $(if $(SOLUTION),--solution)

lab-list: venv
	@$(SLICECTL) lab list

wan-clean:
	-$(SLICECTL) wan clean

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(LATEST_VENV) build *.egg-info .pytest_cache .hypothesis results
