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
timeout 600 slicectl verify --inventory "$inventory" --junit "$report"
status=$?
if [ $status -ne 0 ]; then
  echo "ci-job: connectivity test failed (exit $status)" >&2
  [ -f "$report" ] && python3 "$(dirname "$0")/junit_failures.py" "$report" >&2
fi
exit $status
