"""Every shipped pretrained model loads, and re-evaluating it reproduces the numbers recorded beside it."""

from __future__ import annotations

import json

import pytest
import torch

from stlearn.checkpoints import file_sha256
from stlearn.evaluate import evaluate_checkpoint
from stlearn.export import CHECK_SEQUENCES
from stlearn.paths import data_dir
from stlearn.pretrained import available, checkpoint_path, load_pretrained, pretrained_info

SHIPPED = [(ds, m) for ds, models in available().items() for m in models]
EXPECTED = {
    "moving_digits": {"convlstm", "predrnn", "predrnn_v2"},
    "radar": {"trajgru", "convlstm", "mim", "predrnn", "predrnn_v2"},
}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_every_required_model_is_shipped(dataset):
    assert EXPECTED[dataset] <= set(available()[dataset]), f"missing pretrained {dataset} models"


@pytest.mark.parametrize(("dataset", "model"), SHIPPED)
def test_shipped_checkpoint_reproduces_its_recorded_metrics(dataset, model):
    path = checkpoint_path(dataset, model)
    record = json.loads(path.with_suffix(".metrics.json").read_text())
    assert record["checkpoint_sha256"] == file_sha256(path), "checkpoint changed since its metrics were recorded"
    ck = pretrained_info(dataset, model)
    assert ck.optimizer is None, "shipped checkpoints carry weights only"
    assert ck.metrics["mse_frame"] == pytest.approx(record["means"]["mse_frame"])
    again = evaluate_checkpoint(path, "test", count=CHECK_SEQUENCES, n_boot=10)
    for name, value in record["check"]["means"].items():
        assert again["means"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_load_pretrained_is_cached_and_predicts():
    ds, model = SHIPPED[0]
    m = load_pretrained(ds, model)
    assert m is load_pretrained(ds, model) and not m.training
    out = m.predict(torch.rand(1, 10, 1, 64, 64), 3)
    assert out.shape == (1, 3, 1, 64, 64)


def test_pretrained_errors():
    with pytest.raises(ValueError, match="unknown data set 'video'"):
        checkpoint_path("video", "predrnn")
    with pytest.raises(ValueError, match="unknown model 'lstm'"):
        checkpoint_path("radar", "lstm")


def test_results_table_is_current():
    from stlearn.export import results_markdown

    assert (data_dir() / "checkpoints" / "RESULTS.md").read_text() == results_markdown()


def test_data_folder_stays_small():
    """What data/ ships (everything but the git-ignored cache of regenerated radar splits) stays under 50 MB."""
    shipped = [p for p in data_dir().rglob("*") if p.is_file() and "cache" not in p.relative_to(data_dir()).parts]
    total = sum(p.stat().st_size for p in shipped)
    assert total < 50 * 2**20, f"data/ ships {total / 2**20:.1f} MB; keep it under 50 MB"
