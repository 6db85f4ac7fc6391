"""The original programme's targets, which the demo, `slicectl verify` and the report
measure against: connectivity across clouds (and scale-out) within 10 minutes of a
request, disaster recovery across clouds within 30 minutes."""

TTC_TARGET_S = 600.0
RECOVERY_TARGET_S = 1800.0
