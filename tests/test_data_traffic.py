"""The synthetic traffic-flow city and the worked example's baselines (lesson 10)."""

from __future__ import annotations

import numpy as np
import pytest

from stlearn.data.traffic import (
    TrafficConfig,
    generate_traffic,
    historical_average,
    road_cells,
    to_unit,
    traffic_windows,
)

CFG = TrafficConfig()


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    return generate_traffic(14, seed=3)


def test_shape_dtype_range(series: np.ndarray) -> None:
    assert series.shape == (14 * 96, 2, 16, 16) and series.dtype == np.float32
    assert series.min() >= 0 and np.array_equal(series, np.round(series))  # whole vehicles
    unit = to_unit(series)
    assert unit.dtype == np.float32 and unit.min() >= 0 and unit.max() <= 1
    assert (series > CFG.scale).mean() < 1e-3  # clipping is rare


def test_determinism_by_seed(series: np.ndarray) -> None:
    assert np.array_equal(generate_traffic(14, seed=3), series)
    assert not np.array_equal(generate_traffic(14, seed=4), series)
    assert np.array_equal(generate_traffic(2, seed=3, config=TrafficConfig(size=8)).shape, (192, 2, 8, 8))


def test_daily_and_weekly_periodicity(series: np.ndarray) -> None:
    total = series.sum(axis=(1, 2, 3)).reshape(14, 96)  # vehicles per interval over the city
    weekday, weekend = total[[0, 1, 2, 3, 4, 7, 8, 9, 10, 11]], total[[5, 6, 12, 13]]
    # rush hours on weekdays (frame = hour × 4): 8:00 and 17:30 well above 3:00 and 13:00
    prof = weekday.mean(0)
    assert prof[32] > 2 * prof[52] and prof[70] > 2 * prof[52]
    assert prof[32] > 5 * prof[12]
    # weekends: no rush hours, less traffic overall
    assert weekend.mean(0)[32] < weekend.mean(0)[52]
    assert weekend.sum() / 4 < weekday.sum() / 10
    # the same time of day correlates strongly across weekdays (a period of 96 frames)
    corr = np.corrcoef(weekday[0], weekday[1])[0, 1]
    shifted = np.corrcoef(weekday[0], np.roll(weekday[1], 24))[0, 1]
    assert corr > 0.95 > shifted


def test_morning_inflow_into_the_centre(series: np.ndarray) -> None:
    centre = (slice(None), slice(6, 10), slice(6, 10))
    morning = series[8 * 4]  # Monday 8:00
    assert morning[0][centre[1:]].mean() > morning[1][centre[1:]].mean()  # more in than out in the centre
    evening = series[int(17.5 * 4)]
    assert evening[1][centre[1:]].mean() > evening[0][centre[1:]].mean()  # the reverse at night-fall


def test_roads_carry_more_and_the_rush_travels(series: np.ndarray) -> None:
    row = road_cells(16)[0]
    on_road = np.mean([series[:96, :, y, x].mean() for y, x in row])
    off_road = series[:96, :, 2, :].mean()
    assert on_road > 1.5 * off_road
    # without incidents or daily variation: the morning peak comes later further east along the row road
    # (0.5 interval per cell: about 7 intervals over 14 cells), the evening peak earlier
    cfg = TrafficConfig(incidents_per_day=0.0, day_variation=0.0)
    clean = generate_traffic(1, seed=0, config=cfg)
    (y0, x0), (y1, x1) = row[1], row[-2]
    morning = slice(20, 48)
    evening = slice(56, 84)
    assert np.argmax(clean[morning, 0, y1, x1]) - np.argmax(clean[morning, 0, y0, x0]) >= 4
    assert np.argmax(clean[evening, 0, y0, x0]) - np.argmax(clean[evening, 0, y1, x1]) >= 4


def test_incidents_lower_the_flow_on_roads() -> None:
    quiet = generate_traffic(7, seed=1, config=TrafficConfig(incidents_per_day=0.0))
    busy = generate_traffic(7, seed=1, config=TrafficConfig(incidents_per_day=10.0))
    roads = {cell for road in road_cells(16) for cell in road}
    off = [(y, x) for y in range(16) for x in range(16) if (y, x) not in roads]
    on_mean = lambda s: np.mean([s[:, :, y, x].mean() for y, x in roads])  # noqa: E731
    assert on_mean(busy) < 0.98 * on_mean(quiet)  # measured: about 3.6 % less over a week
    assert quiet.shape == busy.shape and len(off) > 150


def test_windows_and_historical_average(series: np.ndarray) -> None:
    w = traffic_windows(series, 12, stride=4, start=96, stop=2 * 96)
    assert w.shape == ((96 - 12) // 4 + 1, 12, 2, 16, 16)
    assert np.array_equal(w[1], series[100:112])
    table = historical_average(series, 7)
    assert table.shape == (2, 96, 2, 16, 16)
    assert np.allclose(table[0], series[: 5 * 96].reshape(5, 96, 2, 16, 16).mean(0), atol=1e-4)


def test_errors(series: np.ndarray) -> None:
    with pytest.raises(ValueError, match="'days' must be a positive integer"):
        generate_traffic(0)
    with pytest.raises(ValueError, match="'seed'"):
        generate_traffic(1, seed=-1)
    with pytest.raises(TypeError, match="TrafficConfig"):
        generate_traffic(1, config={"size": 8})
    with pytest.raises(ValueError, match="'interval_min' must divide a day"):
        TrafficConfig(interval_min=7)
    with pytest.raises(ValueError, match="incident_flow_factor"):
        TrafficConfig(incident_flow_factor=2.0)
    with pytest.raises(ValueError, match=r"\(T, C, H, W\)"):
        traffic_windows(series[0], 4)
    with pytest.raises(ValueError, match="start \\+ length"):
        traffic_windows(series, 10, start=len(series) - 5)
    with pytest.raises(ValueError, match="weekdays and weekend"):
        historical_average(series, 5)
