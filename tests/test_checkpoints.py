"""Checkpoints: round trip, atomic writes, and a clear error for every kind of bad file."""

from __future__ import annotations

import pytest
import torch

from stlearn.training.checkpoints import (
    Checkpoint,
    CheckpointError,
    atomic_save,
    file_sha256,
    load_checkpoint,
    load_state_dict_checked,
    save_checkpoint,
    weights_sha256,
)


class Evil:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def make(seed=0) -> Checkpoint:
    torch.manual_seed(seed)
    net = torch.nn.Conv2d(2, 3, 3)
    return Checkpoint(
        model_name="tiny",
        model_config={"channels": 3},
        state_dict=net.state_dict(),
        data={"name": "moving_digits", "seed": 1},
        training={"iterations": 10},
        metrics={"mse_per_frame": 12.5},
        optimizer={"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
    )


def test_round_trip(tmp_path):
    ck = make()
    path = save_checkpoint(ck, tmp_path / "a.pt")
    back = load_checkpoint(path, expect_model="tiny")
    assert back.model_config == {"channels": 3} and back.metrics["mse_per_frame"] == 12.5
    assert back.sha256 == weights_sha256(ck.state_dict)
    for k, v in ck.state_dict.items():
        torch.testing.assert_close(back.state_dict[k], v, rtol=0, atol=0)
    assert back.optimizer["param_groups"][0]["lr"] == 1e-3
    assert len(file_sha256(path)) == 64


def test_digest_depends_on_every_byte():
    ck = make()
    sd = {k: v.clone() for k, v in ck.state_dict.items()}
    before = weights_sha256(sd)
    sd["weight"].view(-1)[5] += 1e-7
    assert weights_sha256(sd) != before


def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint(make(0), tmp_path / "ckpt.pt")
    good = file_sha256(path)

    def boom(obj, f):
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(make(1), path)
    assert file_sha256(path) == good
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_refuses_to_overwrite_when_asked(tmp_path):
    path = save_checkpoint(make(), tmp_path / "mine.pt")
    with pytest.raises(FileExistsError, match="mine.pt exists"):
        save_checkpoint(make(1), path, overwrite=False)


def test_missing_truncated_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    path = save_checkpoint(make(), tmp_path / "a.pt")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupted, or not a torch file"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(CheckpointError, match="not a readable stlearn checkpoint"):
        load_checkpoint(tmp_path / "noise.pt")


def test_other_torch_files_and_pickled_code(tmp_path):
    torch.save({"net_param": {"w": torch.zeros(2)}}, tmp_path / "official.ckpt")
    with pytest.raises(CheckpointError, match="not an stlearn checkpoint.*stlearn.interop"):
        load_checkpoint(tmp_path / "official.ckpt")
    torch.save({"format": "stlearn-checkpoint", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")


def test_tampered_weights_and_wrong_model(tmp_path):
    payload = make().to_payload()
    payload["state_dict"]["bias"] = payload["state_dict"]["bias"] + 1
    atomic_save(payload, tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="do not match their recorded sha256"):
        load_checkpoint(tmp_path / "t.pt")
    path = save_checkpoint(make(), tmp_path / "ok.pt")
    with pytest.raises(CheckpointError, match="holds a 'tiny' model, not the 'predrnn'"):
        load_checkpoint(path, expect_model="predrnn")
    payload = make().to_payload()
    payload["format_version"] = 99
    atomic_save(payload, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "v99.pt")


def test_load_state_dict_checked_names_keys_and_shapes():
    net = torch.nn.Conv2d(2, 3, 3)
    other = torch.nn.Conv2d(2, 4, 3).state_dict()
    with pytest.raises(CheckpointError, match=r"'weight': model \(3, 2, 3, 3\) vs checkpoint \(4, 2, 3, 3\)"):
        load_state_dict_checked(net, other)
    with pytest.raises(CheckpointError, match=r"missing from checkpoint: \['bias'\]"):
        load_state_dict_checked(net, {"weight": torch.zeros(3, 2, 3, 3)})
    with pytest.raises(CheckpointError, match=r"not in the model: \['extra'\]"):
        load_state_dict_checked(net, {**net.state_dict(), "extra": torch.zeros(1)})
    load_state_dict_checked(net, torch.nn.Conv2d(2, 3, 3).state_dict())


def test_metadata_is_stored_as_plain_types(tmp_path):
    """A TorchVersion, a Path or a NumPy number in the metadata must not make the file unloadable."""
    import numpy as np

    ck = make()
    ck.training = {"torch": torch.__version__, "out": tmp_path, "loss": np.float32(0.5), "sizes": (1, 2)}
    back = load_checkpoint(save_checkpoint(ck, tmp_path / "m.pt"))
    assert back.training == {"torch": str(torch.__version__), "out": str(tmp_path), "loss": 0.5, "sizes": [1, 2]}
