#!/bin/bash
# Lab 6: the on-call engineer's runbook for the medical slice.
#   runbook.sh failback SLICE   the lost cloud is back: move SLICE's endpoints home from their standbys
#   runbook.sh drain SITE       maintenance (or a typhoon) ahead: no slice may cross SITE
#   runbook.sh undrain SITE     the site is back in service
# slicectl finds the controller in $SLICECTL_SERVER (default 127.0.0.1:50051).
set -euo pipefail
case "${1:-}" in
  failback) slicectl endpoint failback "$2" ;;
  drain)    slicectl site drain "$2" ;;
  undrain)  slicectl site undrain "$2" ;;
  *) echo "usage: $0 failback SLICE | drain SITE | undrain SITE" >&2; exit 2 ;;
esac
