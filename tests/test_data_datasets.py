"""Datasets, loaders, data paths and the checked loading of stored and regenerated splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from stlearn.data import (
    DataFileError,
    MovingDigits,
    RadarEchoes,
    SequenceDataset,
    collate_sequences,
    generate_moving_digits,
    generate_radar,
    load_moving_digits_test,
    load_radar_split,
    make_loader,
    split_inputs_targets,
    to_tensor,
)
from stlearn.data.store import frames_sha256, read_registry, save_frames
from stlearn.paths import DATA_ENV_VAR, data_dir

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


# ---------------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------------


def test_data_dir_is_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    assert data_dir() == REPO_DATA
    assert (data_dir() / "splits.json").is_file()


def test_data_dir_follows_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    monkeypatch.setenv(DATA_ENV_VAR, "  ")
    assert data_dir() == REPO_DATA


# ---------------------------------------------------------------------------------------------
# items, batches, loaders
# ---------------------------------------------------------------------------------------------


def test_items_are_float_sequences_in_unit_range():
    for dataset in (MovingDigits("train", 3), RadarEchoes("val", 2)):
        item = dataset[1]
        assert item.dtype == torch.float32 and item.shape == (20, 1, 64, 64)
        assert 0.0 <= float(item.min()) and float(item.max()) <= 1.0
        assert torch.equal(dataset[-1], dataset[len(dataset) - 1])


def test_on_the_fly_items_equal_the_generators():
    assert torch.equal(MovingDigits("test", 5)[4], to_tensor(generate_moving_digits(1, "test", start=4)[0]))
    assert torch.equal(RadarEchoes("test", 5)[3], to_tensor(generate_radar(1, "test", start=3)[0]))


def test_set_epoch_moves_to_fresh_sequences():
    dataset = MovingDigits("train", 4)
    first = dataset[0]
    dataset.set_epoch(2)
    assert torch.equal(dataset[0], to_tensor(generate_moving_digits(1, "train", start=8)[0]))
    assert not torch.equal(dataset[0], first)
    with pytest.raises(ValueError, match="'epoch' must be a non-negative integer"):
        dataset.set_epoch(-1)


def test_dataset_arguments_are_checked():
    with pytest.raises(ValueError, match="'num_sequences' must be a positive integer"):
        MovingDigits("train", -5)
    with pytest.raises(ValueError, match="'split' must be one of"):
        RadarEchoes("validation", 5)
    with pytest.raises(ValueError, match="give either 'config' or its fields"):
        from stlearn.data import MovingDigitsConfig

        MovingDigits("train", 5, config=MovingDigitsConfig(), num_digits=3)
    with pytest.raises(ValueError, match="do not fit"):
        MovingDigits("train", 5, canvas_size=16)
    with pytest.raises(IndexError, match="out of range"):
        MovingDigits("train", 5)[5]
    with pytest.raises(TypeError, match="index must be an integer"):
        MovingDigits("train", 5)[1.0]
    with pytest.raises(ValueError, match="uint8 array"):
        SequenceDataset(np.zeros((2, 3, 8, 8), dtype=np.float32))


def test_collate_split_and_loader():
    dataset = MovingDigits("val", 6, num_digits=1, canvas_size=32, digit_size=14)
    batch = collate_sequences([dataset[0], dataset[1]])
    assert batch.shape == (2, 20, 1, 32, 32)
    inputs, targets = split_inputs_targets(batch)
    assert inputs.shape == (2, 10, 1, 32, 32) and targets.shape == (2, 10, 1, 32, 32)
    loader = make_loader(dataset, batch_size=4, shuffle=True, seed=3)
    batches = [b.shape for b in loader]
    assert batches == [(4, 20, 1, 32, 32), (2, 20, 1, 32, 32)]
    again = torch.cat(list(make_loader(dataset, batch_size=4, shuffle=True, seed=3)))
    assert torch.equal(again, torch.cat(list(make_loader(dataset, batch_size=4, shuffle=True, seed=3))))
    with pytest.raises(ValueError, match="same \\(T, C, H, W\\)"):
        collate_sequences([dataset[0], MovingDigits("val", 1)[0]])
    with pytest.raises(ValueError, match="'input_frames' must be an integer in"):
        split_inputs_targets(batch, 20)
    with pytest.raises(ValueError, match="'batch_size' must be a positive integer"):
        make_loader(dataset, batch_size=0)


# ---------------------------------------------------------------------------------------------
# stored moving-digits split: missing, corrupted and altered files
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path, monkeypatch) -> Path:
    """A private copy of the registry (and a small fake moving-digits split) in STLEARN_DATA."""
    shutil.copy(REPO_DATA / "splits.json", tmp_path / "splits.json")
    frames = generate_moving_digits(3, "test")
    save_frames(tmp_path / "moving_digits_test.npz", frames)
    registry = json.loads((tmp_path / "splits.json").read_text())
    registry["moving-digits"]["test"]["sha256"] = frames_sha256(frames)
    (tmp_path / "splits.json").write_text(json.dumps(registry))
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    return tmp_path


def test_stored_split_loads_from_stlearn_data(data_copy):
    dataset = load_moving_digits_test()
    assert len(dataset) == 3 and dataset[0].shape == (20, 1, 64, 64)


def test_missing_file_names_it_and_the_command(data_copy):
    (data_copy / "moving_digits_test.npz").unlink()
    command = r"python -m stlearn\.data\.make moving-digits"
    with pytest.raises(DataFileError, match=r"moving_digits_test\.npz is missing.*" + command):
        load_moving_digits_test()


def test_corrupted_file_names_it_and_the_command(data_copy):
    path = data_copy / "moving_digits_test.npz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataFileError, match=r"unreadable or corrupted.*python -m stlearn\.data\.make moving-digits"):
        load_moving_digits_test()


def test_altered_frames_fail_the_checksum(data_copy):
    frames = generate_moving_digits(3, "test")
    frames[1, 5, 10, 10] ^= 1
    save_frames(data_copy / "moving_digits_test.npz", frames)
    with pytest.raises(DataFileError, match="does not match its recorded sha256"):
        load_moving_digits_test()


def test_missing_registry_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(DataFileError, match=r"splits\.json is missing.*python -m stlearn\.data\.make all"):
        load_moving_digits_test()
    (tmp_path / "splits.json").write_text("{not json")
    with pytest.raises(DataFileError, match="not valid JSON"):
        read_registry()


# ---------------------------------------------------------------------------------------------
# regenerated radar splits: checked against the registry, cached
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_radar_split(data_copy) -> Path:
    """Pretend the radar test split has 3 sequences (its real sha256 is checked by the slow test)."""
    registry = json.loads((data_copy / "splits.json").read_text())
    frames = generate_radar(3, "test")
    registry["radar"]["test"].update(num_sequences=3, sha256=frames_sha256(frames))
    (data_copy / "splits.json").write_text(json.dumps(registry))
    return data_copy


def test_radar_split_is_regenerated_checked_and_cached(small_radar_split):
    dataset = load_radar_split("test")
    cache = small_radar_split / "cache" / "radar_test.npz"
    assert len(dataset) == 3 and cache.is_file()
    assert np.array_equal(load_radar_split("test").frames, dataset.frames)  # now from the cache
    cache.write_bytes(b"garbage")  # a damaged cache is regenerated, not trusted
    assert np.array_equal(load_radar_split("test").frames, dataset.frames)
    assert np.array_equal(load_radar_split("test", cache=False).frames, dataset.frames)


def test_radar_split_with_a_wrong_hash_is_refused(small_radar_split):
    registry = json.loads((small_radar_split / "splits.json").read_text())
    registry["radar"]["test"]["sha256"] = "0" * 64
    (small_radar_split / "splits.json").write_text(json.dumps(registry))
    with pytest.raises(DataFileError, match="does not match its sha256"):
        load_radar_split("test", cache=False)
    with pytest.raises(DataFileError, match="no split 'holdout'"):
        load_radar_split("holdout")
