r"""A synthetic traffic-flow city: inflow/outflow per grid cell, the seed's "traffic flow" application (lesson 10).

The seed lists traffic flow prediction among PredRNN's applications: "traffic flow is a
spatiotemporal problem (evolving in both space and time)". Grid data sets such as TaxiBJ count,
for every cell of a city grid and every time interval, the vehicles that **enter** (inflow) and
**leave** (outflow) the cell — an image with C = 2 channels per interval. This generator makes
a small, seeded city of that kind, so the course's models run on it unchanged.

What the city contains (all in :class:`TrafficConfig`):

* a 16 × 16 grid of 1 km cells, one frame every 15 minutes (96 frames a day); the series
  starts on a Monday at 00:00;
* land use: a business centre and a smaller sub-centre (Gaussian blobs) and residential rings
  around them;
* a daily profile: a background level (low at night), a **morning rush** (peak 8:00) into the
  business cells and out of the residential ones, an **evening rush** (peak 17:30) the other way;
  on weekends no rush hours, a broad midday bump, and 30 % less traffic;
* three **arterial roads** (a row, a column and a diagonal through the centre) that carry extra
  through-traffic, in shorter peaks than the districts'. The rush reaches each road cell with a
  delay of ``wave_lag`` intervals per cell (0.5: 7.5 minutes per km, 2 hours along a road):
  inward in the morning, outward in the evening, so peaks travel along the roads;
* **incidents**: a few per day; each blocks a road cell and a queue grows upstream one cell per
  interval (flow on the queued cells drops to ``incident_flow_factor``) for 1–2 hours, then
  clears;
* day-to-day variation: each day's volume is scaled by a random factor (weather, events);
* counting noise: the stored value is a Poisson draw around the expected count.

Units: **vehicles per cell per 15-minute interval** (float32, whole numbers). Models expect
values in [0, 1]: divide by :attr:`TrafficConfig.scale` (:func:`to_unit`).

Shapes: :func:`generate_traffic` returns a continuous series (T, 2, H, W); :func:`traffic_windows`
cuts it into sequences (N, T_window, 2, H, W) — the (B, T, C, H, W) layout of every model here.
Channel 0 is inflow, channel 1 outflow.

Taught in lesson 10 (comparing the models: applications, the traffic-flow worked example).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int

__all__ = [
    "TRAFFIC_SEED",
    "TrafficConfig",
    "generate_traffic",
    "historical_average",
    "road_cells",
    "to_unit",
    "traffic_windows",
]

#: Documented seed of the lesson's city.
TRAFFIC_SEED = 90_090_009

#: the arterials' rush peaks last half as long as the districts' (a commuter wave, not a plateau)
ROAD_RUSH_WIDTH = 0.5


@dataclass(frozen=True)
class TrafficConfig:
    """Parameters of the synthetic city (defaults: lesson 10's worked example).

    Attributes:
        size: grid side (cells of ``cell_km``); interval_min: minutes per frame.
        peak_flow: expected vehicles per interval of a busy cell at the rush peak (before noise).
        scale: divide by it to get model inputs in [0, 1] (values above are clipped by :func:`to_unit`).
        road_flow: extra vehicles per interval on an arterial at the rush peak.
        wave_lag: intervals of delay per cell along an arterial (the rush travelling along the road).
        incidents_per_day: mean number of incidents (Poisson); incident_flow_factor: flow on queued cells.
        day_variation: standard deviation of the log of each day's volume factor.
        weekend_factor: weekend volume relative to a weekday.
    """

    size: int = 16
    cell_km: float = 1.0
    interval_min: int = 15
    peak_flow: float = 300.0
    scale: float = 800.0
    road_flow: float = 100.0
    wave_lag: float = 0.5
    incidents_per_day: float = 3.0
    incident_flow_factor: float = 0.35
    day_variation: float = 0.15
    weekend_factor: float = 0.7

    def __post_init__(self) -> None:
        where = "TrafficConfig"
        check_int(where, "size", self.size, 4)
        check_int(where, "interval_min", self.interval_min)
        if 1440 % self.interval_min:
            raise ValueError(f"{where}: 'interval_min' must divide a day (1440 minutes), got {self.interval_min}")
        for name in ("cell_km", "peak_flow", "scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{where}: '{name}' must be positive, got {getattr(self, name)!r}")
        for name in ("road_flow", "wave_lag", "incidents_per_day", "day_variation"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{where}: '{name}' must be ≥ 0, got {getattr(self, name)!r}")
        for name in ("incident_flow_factor", "weekend_factor"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{where}: '{name}' must be in [0, 1], got {getattr(self, name)!r}")

    @property
    def steps_per_day(self) -> int:
        """Frames per day (96 at 15 minutes)."""
        return 1440 // self.interval_min


def _blob(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, sigma: float) -> np.ndarray:
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


def _land_use(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Business and residential weights (H, W), each with maximum 1."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    c = (n - 1) / 2
    business = _blob(yy, xx, c, c, n / 8) + 0.6 * _blob(yy, xx, n * 0.22, n * 0.75, n / 12)
    r = np.hypot(yy - c, xx - c)
    residential = np.exp(-((r - n * 0.32) ** 2) / (2 * (n / 7) ** 2)) + 0.3 * _blob(yy, xx, n * 0.8, n * 0.2, n / 8)
    business /= business.max()
    # as many trips start in the residential cells as end in the business cells: equal totals
    return business, residential * business.sum() / residential.sum()


def road_cells(size: int = 16) -> list[list[tuple[int, int]]]:
    """The arterials as lists of (row, column) cells, from the outer end that the morning rush starts at.

    A row road (west → east), a column road (south → north) and a diagonal (north-west → south-east),
    all through the centre. Taught in lesson 10 (the traffic-flow worked example).
    """
    n = check_int("road_cells", "size", size, 4)
    mid = n // 2
    return [
        [(mid, x) for x in range(n)],
        [(y, mid - 1) for y in range(n - 1, -1, -1)],
        [(i, i) for i in range(n)],
    ]


def _gauss(h: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((h - mu) / sigma) ** 2)


def _profiles(
    hours: np.ndarray, weekend: np.ndarray, width: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background, morning-rush and evening-rush profiles for each time (hours of day, weekend flags).

    ``width`` scales the rush peaks' durations (the arterials' through-traffic peaks are narrower).
    """
    night = 0.15 + 0.85 / (1 + np.exp(-(hours - 6.0) * 1.5)) / (1 + np.exp((hours - 22.5) * 1.2))
    background = np.where(weekend, night * (0.6 + 0.5 * _gauss(hours, 13.5, 3.0)), night * 0.6)
    morning = np.where(weekend, 0.0, _gauss(hours, 8.0, 1.0 * width))
    evening = np.where(weekend, 0.0, _gauss(hours, 17.5, 1.4 * width))
    return background, morning, evening


def generate_traffic(days: int = 28, seed: int = TRAFFIC_SEED, config: TrafficConfig | None = None) -> np.ndarray:
    """A continuous series of ``days`` days: float32 (T, 2, H, W), vehicles per cell per interval.

    T = days × steps_per_day; channel 0 inflow, channel 1 outflow; day 0 is a Monday. The same
    ``seed`` and ``config`` give the same series (``np.random.default_rng(seed)``).

    Taught in lesson 10 (the traffic-flow worked example).
    """
    where = "generate_traffic"
    days = check_int(where, "days", days)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{where}: 'seed' must be a non-negative integer, got {seed!r}")
    cfg = TrafficConfig() if config is None else config
    if not isinstance(cfg, TrafficConfig):
        raise TypeError(f"{where}: 'config' must be a TrafficConfig, got {type(cfg).__name__}")
    rng = np.random.default_rng(int(seed))
    n, per_day = cfg.size, cfg.steps_per_day
    total = days * per_day
    step = np.arange(total)
    day = step // per_day
    hours = (step % per_day) * cfg.interval_min / 60.0
    weekend = (day % 7) >= 5
    business, residential = _land_use(n)
    background, morning, evening = _profiles(hours, weekend)
    volume = np.exp(rng.normal(0.0, cfg.day_variation, days))[day] * np.where(weekend, cfg.weekend_factor, 1.0)
    vol = volume[:, None, None]
    both = 0.5 * (business + residential)
    # inflow: into business cells in the morning, into residential cells in the evening; outflow the reverse
    inflow = vol * cfg.peak_flow * (background[:, None, None] * both
                                    + morning[:, None, None] * business + evening[:, None, None] * residential)
    outflow = vol * cfg.peak_flow * (background[:, None, None] * both
                                     + morning[:, None, None] * residential + evening[:, None, None] * business)
    # arterials: through-traffic whose rush peak reaches cell k of a road k·wave_lag intervals later
    # (inward in the morning, outward in the evening); vehicles enter and leave a road cell alike
    minutes = cfg.interval_min / 60.0
    road = np.zeros((total, n, n))
    for cells in road_cells(n):
        length = len(cells)
        for k, (y, x) in enumerate(cells):
            d_in, d_out = k * cfg.wave_lag * minutes, (length - 1 - k) * cfg.wave_lag * minutes
            _, m_k, _ = _profiles(hours - d_in, weekend, ROAD_RUSH_WIDTH)
            _, _, e_k = _profiles(hours - d_out, weekend, ROAD_RUSH_WIDTH)
            road[:, y, x] += volume * cfg.road_flow * (0.25 * background + m_k + e_k)
    inflow = inflow + road
    outflow = outflow + road
    # incidents: a blocked road cell, the queue growing upstream one cell per interval, then clearing
    factor = np.ones((total, n, n))
    roads = road_cells(n)
    for _ in range(int(rng.poisson(cfg.incidents_per_day * days))):
        cells = roads[int(rng.integers(len(roads)))]
        start = int(rng.integers(total))
        at = int(rng.integers(2, len(cells)))
        duration = int(rng.integers(4, 9))  # 1–2 hours at 15 minutes
        # growing: at interval dt the queue covers cells at, at−1, …, at−dt (upstream)
        # clearing: afterwards it dissolves from the front, two cells per interval
        for dt in range(duration + (duration + 1) // 2):
            t = start + dt
            if t >= total:
                break
            back = min(dt, duration - 1)
            front = 0 if dt < duration else 2 * (dt - duration + 1)
            for j in range(front, back + 1):
                if at - j >= 0:
                    y, x = cells[at - j]
                    factor[t, y, x] = min(factor[t, y, x], cfg.incident_flow_factor)
    expected = np.stack([inflow * factor, outflow * factor], axis=1)
    counts = rng.poisson(expected).astype(np.float32)
    return counts


def to_unit(series: np.ndarray, config: TrafficConfig | None = None) -> np.ndarray:
    """Vehicles per interval → model inputs in [0, 1]: ``clip(series / scale, 0, 1)`` as float32.

    Taught in lesson 10 (the traffic-flow worked example).
    """
    cfg = TrafficConfig() if config is None else config
    arr = np.asarray(series, dtype=np.float32)
    return np.clip(arr / np.float32(cfg.scale), 0.0, 1.0)


def traffic_windows(
    series: np.ndarray, length: int, stride: int = 1, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Sliding windows of ``length`` frames: (T, C, H, W) → (N, length, C, H, W), a view-free copy.

    Windows start at ``start``, ``start + stride``, … and end before ``stop`` (default: the end).

    Taught in lesson 10 (the traffic-flow worked example).
    """
    where = "traffic_windows"
    arr = np.asarray(series)
    if arr.ndim != 4:
        raise ValueError(f"{where}: 'series' must be (T, C, H, W), got shape {arr.shape}")
    length = check_int(where, "length", length)
    stride = check_int(where, "stride", stride)
    start = check_int(where, "start", start, 0)
    stop = arr.shape[0] if stop is None else check_int(where, "stop", stop, 0)
    if stop > arr.shape[0] or stop - start < length:
        raise ValueError(
            f"{where}: need start + length ≤ stop ≤ T = {arr.shape[0]}; got start={start}, stop={stop}, length={length}"
        )
    starts = np.arange(start, stop - length + 1, stride)
    return np.stack([arr[s : s + length] for s in starts])


def historical_average(
    series: np.ndarray, train_days: int, config: TrafficConfig | None = None
) -> np.ndarray:
    """The historical-average forecaster's table: mean of the first ``train_days`` days per time of day.

    Returns (2, steps_per_day, C, H, W): index 0 weekdays, 1 weekends (days 5 and 6 of each week),
    each the mean over the training days of that kind. The forecast for time step t is
    ``table[weekend(t), t % steps_per_day]`` — it knows the daily and weekly rhythm, but not today.

    Taught in lesson 10 (the traffic-flow worked example's baselines).
    """
    where = "historical_average"
    cfg = TrafficConfig() if config is None else config
    arr = np.asarray(series, dtype=np.float64)
    per_day = cfg.steps_per_day
    train_days = check_int(where, "train_days", train_days)
    if arr.ndim != 4 or arr.shape[0] < train_days * per_day:
        raise ValueError(
            f"{where}: 'series' must be (T, C, H, W) with at least train_days × {per_day} frames, got {arr.shape}"
        )
    days = arr[: train_days * per_day].reshape(train_days, per_day, *arr.shape[1:])
    weekend = (np.arange(train_days) % 7) >= 5
    if weekend.all() or not weekend.any():
        raise ValueError(f"{where}: the training days must include weekdays and weekend days, got {train_days} days")
    return np.stack([days[~weekend].mean(0), days[weekend].mean(0)]).astype(np.float32)
