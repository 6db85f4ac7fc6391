"""The original programme's targets, which the demo, `slicectl verify` and the report
measure against: connectivity across clouds (and scale-out) within 10 minutes of a
request, disaster recovery across clouds within 30 minutes."""

TTC_TARGET_S = 600.0
RECOVERY_TARGET_S = 1800.0


def against(seconds: float, target_s: float) -> str:
    """A measured time against its target, with the verdict: "met: 5,726x faster",
    "met: instant" (nothing measurable), or "MISSED: 1.5x the target"."""
    if seconds <= 0:
        return "met: instant"
    if seconds <= target_s:
        return f"met: {target_s / seconds:,.0f}x faster"
    return f"MISSED: {seconds / target_s:,.1f}x the target"
