"""Geography: great-circle distance and the one-way delay it implies in fibre.

Light in silica fibre travels at about c / 1.47, i.e. roughly 5 microseconds per km.
Real fibre does not follow the great circle, so a *route factor* (typically 1.2-2.0)
stretches the geometric distance to the length of cable actually laid.
"""
from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
FIBRE_MS_PER_KM = 0.005  # 5 us/km: light in fibre, ~204,000 km/s
# fibre laid between cities is typically 1.2-2.0x the great circle; 1.4 is a common planning figure
DEFAULT_ROUTE_FACTOR = 1.4


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two points given in decimal degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def fibre_delay_ms(distance_km: float, route_factor: float) -> float:
    """One-way propagation delay of a fibre whose path is route_factor x distance_km."""
    return distance_km * route_factor * FIBRE_MS_PER_KM


def centroid(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Spherical mean of (lat, lon) points; correct across the antimeridian."""
    x = y = z = 0.0
    for lat, lon in points:
        la, lo = math.radians(lat), math.radians(lon)
        x += math.cos(la) * math.cos(lo)
        y += math.cos(la) * math.sin(lo)
        z += math.sin(la)
    n = len(points)
    x, y, z = x / n, y / n, z / n
    lon = math.degrees(math.atan2(y, x))
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    return round(lat, 5), round(lon, 5)
