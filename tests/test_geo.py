"""Distance -> delay for known city pairs."""
import pytest

from topologies.geo import FIBRE_MS_PER_KM, centroid, fibre_delay_ms, great_circle_km

# (city a, city b, published great-circle distance in km)
CITY_PAIRS = [
    ((35.6762, 139.6503), (34.6937, 135.5023), 392),    # Tokyo - Osaka (city centres)
    ((51.5074, -0.1278), (48.8566, 2.3522), 344),       # London - Paris
    ((51.5074, -0.1278), (40.7128, -74.0060), 5570),    # London - New York
    ((-33.8688, 151.2093), (1.3521, 103.8198), 6300),   # Sydney - Singapore
    ((35.6762, 139.6503), (37.7749, -122.4194), 8270),  # Tokyo - San Francisco
]


@pytest.mark.parametrize("a,b,km", CITY_PAIRS)
def test_great_circle_matches_published_distances(a, b, km):
    assert great_circle_km(*a, *b) == pytest.approx(km, rel=0.01)
    assert great_circle_km(*b, *a) == pytest.approx(great_circle_km(*a, *b))


def test_fibre_delay_is_5_us_per_km_times_route_factor():
    assert FIBRE_MS_PER_KM == 0.005
    assert fibre_delay_ms(1000, 1.0) == pytest.approx(5.0)
    tokyo_osaka = great_circle_km(35.6762, 139.6503, 34.6937, 135.5023)
    assert fibre_delay_ms(tokyo_osaka, 1.4) == pytest.approx(2.75, abs=0.01)
    assert fibre_delay_ms(0, 1.4) == 0


def test_centroid_crosses_the_antimeridian():
    lat, lon = centroid([(0.0, 179.0), (0.0, -179.0)])
    assert lat == pytest.approx(0, abs=1e-6)
    assert abs(lon) == pytest.approx(180, abs=1e-6)
