#!/bin/bash
# Lab 7: the connectivity test a CI job runs against the inter-cloud WAN.
#   ci-job.sh INVENTORY REPORT
# Verifies every slice on the controller ($SLICECTL_SERVER) from the hosts listed in
# INVENTORY, writes JUnit XML to REPORT, exits 0 only if everything holds, and non-zero
# when anything fails or cannot be checked (a controller that does not answer is a
# failure, not a pass).
set -uo pipefail
inventory=${1:?usage: ci-job.sh INVENTORY REPORT}
report=${2:?usage: ci-job.sh INVENTORY REPORT}
rm -f "$report"
# TODO 1: run `slicectl verify` on every slice, with the inventory, writing JUnit to "$report"
#         (`slicectl verify --help`); never let it run longer than the 10-minute target
# TODO 2: exit with its status; on failure, list the failed test cases on stderr
#         (python3 "$(dirname "$0")/junit_failures.py" "$report")
echo "ci-job: not written yet" >&2
exit 0
