"""Reliability (issue 21): nothing lost, nothing silently wrong, every bad input answered in one clear line.

One section per class of the issue: data lost (the run lock), integrity (the manifest, checkpoint
digests, the pool cache), raw errors (checkpoints, interop, disk full, the CLI boundary), silently
wrong inputs (configuration schema, metrics, models, widgets, evaluate) and resume (extend, threads).
Everything runs on tiny models in a few seconds; the load test at the end (4 runs and 2 evaluations
at once) takes about 30 s on 2 cores.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from stlearn.__main__ import main
from stlearn.data.store import DataFileError
from stlearn.errors import CheckpointError, ConfigError, RunExistsError, RunLockedError, StlearnError
from stlearn.training import TrainConfig, load_config, train
from stlearn.training.checkpoints import Checkpoint, atomic_save, file_sha256, load_checkpoint, save_checkpoint
from stlearn.training.lock import RunLock, lock_path

ROOT = Path(__file__).resolve().parents[1]

TINY = dict(
    model="convlstm",
    dataset="moving_digits",
    model_config={"hidden_channels": [4], "kernel_size": 3, "patch_size": 4, "frame_size": [32, 32]},
    data_config={"canvas_size": 32, "digit_size": 14},
    iterations=2,
    batch_size=2,
    val_every=2,
    val_sequences=2,
    sampling="teacher",
    threads=1,
)

TINY_TOML = (
    'model = "convlstm"\ndataset = "moving_digits"\nbatch_size = 2\nval_sequences = 2\nthreads = 1\n'
    'sampling = "teacher"\n'
    "model_config = { hidden_channels = [4], patch_size = 4, frame_size = [32, 32] }\n"
    "data_config = { canvas_size = 32, digit_size = 14 }\n"
)


class Unpicklable:
    """An object torch can pickle but weights-only loading refuses."""


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "stlearn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT, **kw)  # fmt: skip


def _one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


# ---------------------------------------------------------------------------------------------
# data lost: one run per checkpoint
# ---------------------------------------------------------------------------------------------


def test_two_train_commands_on_one_output_the_second_refuses_at_once(tmp_path):
    cfg = tmp_path / "long.toml"
    cfg.write_text(TINY_TOML + "iterations = 100000\nval_every = 100000\n")
    out = tmp_path / "same.pt"
    first = _cli("train", str(cfg), "--out", str(out), "--no-progress")
    try:
        deadline = time.time() + 60
        while not lock_path(out).exists() and time.time() < deadline:
            time.sleep(0.05)
        assert lock_path(out).exists(), first.communicate(timeout=5)
        t0 = time.time()
        second = _cli("train", str(cfg), "--out", str(out), "--no-progress")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        _one_line_error(err, "same.pt is being written by another training run", f"pid {first.pid}", "--out")
        assert time.time() - t0 < 30  # refused before any training (the import is most of it)
        assert json.loads(lock_path(out).read_text())["pid"] == first.pid  # the owner's lock is untouched
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130  # interrupted cleanly ...
    assert not lock_path(out).exists()  # ... and the lock went with it


def test_a_held_lock_refuses_train_and_a_stale_one_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run.pt"
    with RunLock(out):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            train(TrainConfig(**TINY), out, progress=False)
        assert not out.exists()
    assert not lock_path(out).exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(out).write_text(json.dumps({"pid": dead.pid, "host": "here", "started": 0}))
    train(TrainConfig(**TINY), out, progress=False)
    assert f"took over the stale lock {lock_path(out)} of pid {dead.pid}" in capsys.readouterr().err
    assert out.exists() and not lock_path(out).exists()


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    out = tmp_path / "r.pt"
    train(TrainConfig(**TINY), out, progress=False)
    with pytest.raises(RunExistsError, match="pass resume=True"):
        train(TrainConfig(**TINY), out, progress=False)
    assert not lock_path(out).exists()
    with RunLock(out) as lock:  # free again
        assert lock.took_over is None


# ---------------------------------------------------------------------------------------------
# silently wrong configurations: one schema for the CLI and train()
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grad_clip": -1}, "'grad_clip' must be a positive number"),
        ({"grad_clip": 0}, "'grad_clip' must be a positive number"),
        ({"lr_final_fraction": -5}, r"'lr_final_fraction' must be a number in \[0, 1\]"),
        ({"lr": "1e-3"}, r"'lr' must be a positive number, e.g. 1e-3, got '1e-3' \(str\)"),
        ({"lr": float("nan")}, "'lr' must be a positive number"),
        ({"batch_size": 2.0}, "'batch_size' must be a positive integer"),
        ({"seed": -1}, "'seed' must be an integer ≥ 0"),
        ({"threads": 0}, "'threads' must be a positive integer"),
        ({"amp": "yes"}, "'amp' must be true or false"),
        ({"device": "gpu"}, "'device' must be a torch device"),
        ({"model": "lstm"}, "'model' must be one of"),
        ({"dataset": "video"}, "'dataset' must be one of"),
        ({"model_config": {"hiden_channels": [4]}}, r"model_config has keys \['hiden_channels'\] that convlstm"),
        ({"data_config": {"canvas": 32}}, r"data_config has keys \['canvas'\] that the moving_digits data set"),
        ({"data_config": {"input_frames": 5}}, "input_len \\+ pred_len = 20 but the data set makes 15-frame"),
        ({"sampling_config": {"rate": 0.1}}, "sampling = 'teacher' has no schedule"),
        ({"sampling": "scheduled", "sampling_config": {"tau1": 3}}, r"sampling_config has keys \['tau1'\]"),
        ({"sampling": "scheduled", "sampling_config": {"rate": "fast"}}, "sampling_config.rate must be a number"),
        ({"model_config": []}, "'model_config' must be a table"),
    ],
)
def test_config_schema_names_the_key_and_what_was_expected(change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{**TINY, **change})


def test_train_applies_the_same_schema_to_a_config_changed_after_construction(tmp_path):
    cfg = TrainConfig(**TINY)
    cfg.grad_clip = -1.0
    with pytest.raises(ConfigError, match="'grad_clip' must be a positive number"):
        train(cfg, tmp_path / "x.pt", progress=False)
    cfg = TrainConfig(**{**TINY, "model_config": {"hidden_channels": [4], "kernel_size": 4}})
    with pytest.raises(ConfigError, match="model_config does not build a convlstm: .*kernel_size"):
        train(cfg, tmp_path / "y.pt", progress=False)


def test_load_config_names_the_file_and_the_command_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML + "grad_clip = -1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: 'grad_clip' must be a positive number") as info:
        load_config(bad)
    assert "TrainConfig" not in str(info.value)
    ok = tmp_path / "ok.toml"
    ok.write_text(TINY_TOML)
    with pytest.raises(ConfigError, match=r"ok.toml: 'iterations' must be .* \(given on the command line\)"):
        load_config(ok, iterations=0)
    (tmp_path / "syntax.toml").write_text("model = \n")
    with pytest.raises(ConfigError, match="syntax.toml is not valid TOML"):
        load_config(tmp_path / "syntax.toml")
    with pytest.raises(ConfigError, match="no training configuration at"):
        load_config(tmp_path / "nowhere.toml")
    (tmp_path / "half.toml").write_text('model = "convlstm"\n')
    with pytest.raises(ConfigError, match=r"missing required keys \['dataset'\]"):
        load_config(tmp_path / "half.toml")
    assert load_config(ok, lr=1).lr == 1.0 and isinstance(load_config(ok, lr=1).lr, float)


def test_cli_prints_stlearn_errors_as_one_line_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML + 'lr = "fast"\n')
    assert main(["train", str(bad), "--out", str(tmp_path / "b.pt")]) == 2
    _one_line_error(capsys.readouterr().err, "stlearn train: error:", "bad.toml", "'lr'", "positive number")
    (tmp_path / "empty.pt").write_bytes(b"")
    assert main(["evaluate", str(tmp_path / "empty.pt")]) == 2
    _one_line_error(capsys.readouterr().err, "empty.pt is empty (0 bytes)")
    assert main(["train", str(tmp_path / "nowhere.toml")]) == 2
    _one_line_error(capsys.readouterr().err, "no training configuration at")
    assert main(["train", str(bad), "--extend"]) == 2
    _one_line_error(capsys.readouterr().err, "only apply with --resume")


def test_cli_keeps_the_traceback_of_unexpected_errors(monkeypatch):
    import stlearn.__main__ as cli

    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "info", ("", lambda p: None, boom))
    with pytest.raises(ZeroDivisionError):
        cli.main(["info"])


def test_cli_subprocess_bad_config_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML + "lr_final_fraction = -5\n")
    proc = _cli("train", str(bad), "--out", str(tmp_path / "x.pt"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    _one_line_error(err, "bad.toml", "'lr_final_fraction'", "[0, 1]")


@pytest.mark.parametrize("args", [["--sequences", "0"], ["--batch-size", "0"], ["--sequences", "-3"],
                                  ["--batch-size", "two"]])  # fmt: skip
def test_evaluate_refuses_non_positive_counts(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "data/checkpoints/moving_digits/convlstm.pt", *args])
    assert info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# resume: exact, or an explicit choice
# ---------------------------------------------------------------------------------------------


def test_resume_with_a_longer_schedule_needs_extend(tmp_path):
    decayed = {**TINY, "lr_final_fraction": 0.1}
    train(TrainConfig(**decayed), tmp_path / "d.pt", progress=False)
    with pytest.raises(ConfigError, match="planned for iterations = 2, not 4.*lr_final_fraction.*--extend"):
        train(TrainConfig(**{**decayed, "iterations": 4}), tmp_path / "d.pt", resume=True, progress=False)
    res = train(TrainConfig(**{**decayed, "iterations": 4}), tmp_path / "d.pt", resume=True, progress=False,
                extend=True)  # fmt: skip
    assert [h["iteration"] for h in res.history] == [2, 4]
    # schedules in fractions of the run: the same rule
    frac = {**TINY, "sampling": "scheduled", "sampling_config": {"stop_fraction": 0.5}}
    train(TrainConfig(**frac), tmp_path / "f.pt", progress=False)
    with pytest.raises(ConfigError, match="fractions of the run"):
        train(TrainConfig(**{**frac, "iterations": 4}), tmp_path / "f.pt", resume=True, progress=False)


def test_resume_with_another_thread_count_needs_inexact(tmp_path):
    train(TrainConfig(**TINY), tmp_path / "t.pt", progress=False)
    assert load_checkpoint(tmp_path / "t.pt").training["threads_used"] == 1
    more = TrainConfig(**{**TINY, "threads": 2, "iterations": 4})
    try:
        with pytest.raises(ConfigError, match="trained with 1 CPU thread.*would use 2.*--threads 1.*--inexact"):
            train(more, tmp_path / "t.pt", resume=True, progress=False)
        train(more, tmp_path / "t.pt", resume=True, progress=False, inexact=True)
    finally:
        torch.set_num_threads(1)
    assert load_checkpoint(tmp_path / "t.pt").training["iterations_done"] == 4


def test_cli_resume_rules_are_one_line_errors(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY_TOML + "iterations = 2\nval_every = 2\nlr_final_fraction = 0.5\n")
    out = tmp_path / "c.pt"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 2
    _one_line_error(capsys.readouterr().err, "c.pt exists", "--resume")
    assert main(["train", str(cfg), "--out", str(out), "--no-progress", "--resume", "--iterations", "4"]) == 2
    _one_line_error(capsys.readouterr().err, "--extend")
    assert main(["train", str(cfg), "--out", str(out), "--no-progress", "--resume", "--iterations", "4",
                 "--extend"]) == 0  # fmt: skip


# ---------------------------------------------------------------------------------------------
# checkpoints: every bad file is a CheckpointError; the record digest covers the configuration
# ---------------------------------------------------------------------------------------------


def _ck(**kw) -> Checkpoint:
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 2, 3)
    return Checkpoint(model_name="tiny", model_config={"zigzag": True}, state_dict=net.state_dict(),
                      data={"name": "moving_digits"}, training={"iterations_done": 2}, **kw)  # fmt: skip


def test_empty_and_wrongly_structured_checkpoints(tmp_path):
    (tmp_path / "zero.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(tmp_path / "zero.pt")
    good = _ck().to_payload()
    for broken, what in [
        ({**good, "model": "predrnn"}, "'model' must be"),
        ({**good, "model": {"name": "tiny"}}, "'model' must be"),
        ({**good, "state_dict": [1, 2]}, "'state_dict' must be a mapping"),
        ({**good, "training": [1]}, "'training' must be a dict"),
        ({**good, "optimizer": "adam"}, "'optimizer' must be a dict or absent"),
        ({**good, "state_dict": {"weight": [1.0]}}, "weight 'weight' is a list, not a tensor"),
        ({k: v for k, v in good.items() if k != "state_dict"}, "'state_dict' must be a mapping"),
    ]:
        torch.save(broken, tmp_path / "b.pt")
        with pytest.raises(CheckpointError, match=what):
            load_checkpoint(tmp_path / "b.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not an stlearn checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


def test_nan_inf_and_integer_weights_are_refused(tmp_path):
    from stlearn.training.checkpoints import record_sha256, weights_sha256

    for bad, what in [(float("nan"), "NaN/Inf"), (float("inf"), "NaN/Inf")]:
        payload = _ck().to_payload()
        payload["state_dict"]["bias"][0] = bad
        payload["sha256"] = weights_sha256(payload["state_dict"])  # a consistent file: the digest is not the guard
        payload["record_sha256"] = record_sha256(payload)
        atomic_save(payload, tmp_path / "n.pt")
        with pytest.raises(CheckpointError, match=f"weight 'bias' holds 1 {what}"):
            load_checkpoint(tmp_path / "n.pt")
    payload = _ck().to_payload()
    payload["state_dict"]["weight"] = payload["state_dict"]["weight"].round().to(torch.int64)
    payload["sha256"] = weights_sha256(payload["state_dict"])
    payload["record_sha256"] = record_sha256(payload)
    atomic_save(payload, tmp_path / "i.pt")
    with pytest.raises(CheckpointError, match="'weight' is torch.int64 .* integer"):
        load_checkpoint(tmp_path / "i.pt")


def test_the_record_digest_covers_the_configuration(tmp_path):
    path = save_checkpoint(_ck(), tmp_path / "c.pt")
    assert load_checkpoint(path).record_sha256
    for edit in [lambda p: p["model"]["config"].update(zigzag=False), lambda p: p["data"].update(name="radar"),
                 lambda p: p["training"].update(iterations_done=9), lambda p: p.update(metrics={"mse": 1.0})]:
        payload = torch.load(path, weights_only=True)
        edit(payload)
        atomic_save(payload, tmp_path / "edited.pt")
        with pytest.raises(CheckpointError, match="configuration or metadata do not match their recorded"):
            load_checkpoint(tmp_path / "edited.pt")


def test_a_version_1_checkpoint_still_loads(tmp_path):
    payload = _ck().to_payload()
    payload["format_version"] = 1
    del payload["record_sha256"]
    atomic_save(payload, tmp_path / "v1.pt")
    assert load_checkpoint(tmp_path / "v1.pt").record_sha256 == ""


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0"),
    RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
])  # fmt: skip
def test_disk_full_during_save_is_one_clear_message_and_keeps_the_previous_file(tmp_path, monkeypatch, failure):
    path = save_checkpoint(_ck(), tmp_path / "keep.pt")
    before = file_sha256(path)

    def full(obj, f):
        f.write(b"partial")
        raise failure

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match=r"could not write .*keep.pt: no space left .* MB free.*intact"):
        save_checkpoint(_ck(), path)
    assert file_sha256(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]


def test_other_write_errors_are_checkpoint_errors(tmp_path, monkeypatch):
    def denied(obj, f):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "save", denied)
    with pytest.raises(CheckpointError, match="could not write .*Permission denied"):
        save_checkpoint(_ck(), tmp_path / "x.pt")
    monkeypatch.undo()
    with pytest.raises(RunExistsError):
        save_checkpoint(_ck(), save_checkpoint(_ck(), tmp_path / "y.pt"), overwrite=False)


def test_interop_read_state_dict_never_passes_torch_advice_on(tmp_path):
    from stlearn.interop import load_predrnn, read_state_dict
    from stlearn.models import build_model

    torch.save({"net_param": {"w": torch.zeros(1)}, "obj": Unpicklable()}, tmp_path / "p.ckpt")
    (tmp_path / "zero.ckpt").write_bytes(b"")
    (tmp_path / "noise.ckpt").write_bytes(os.urandom(300))
    for name, what in [("p.ckpt", "pickled Python objects"), ("zero.ckpt", "empty"), ("noise.ckpt", "corrupted"),
                       ("none.ckpt", "does not exist")]:  # fmt: skip
        with pytest.raises(CheckpointError, match=what) as info:
            read_state_dict(tmp_path / name)
        assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
    model = build_model("predrnn", hidden_channels=[4], frame_size=(16, 16))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["conv_last.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="'conv_last.weight' holds 1 NaN/Inf"):
        load_predrnn(model, state)
    state = {k: v.to(torch.int32) for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="integer"):
        load_predrnn(model, state)


# ---------------------------------------------------------------------------------------------
# integrity: the manifest of stored files, `make check`, damaged streams, the pool cache
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the stored test split, its registries and one shipped checkpoint, as STLEARN_DATA."""
    folder = tmp_path / "data"
    (folder / "checkpoints" / "moving_digits").mkdir(parents=True)
    for name in ("moving_digits_test.npz", "splits.json"):
        shutil.copyfile(ROOT / "data" / name, folder / name)
    shutil.copyfile(ROOT / "data/checkpoints/moving_digits/predrnn.pt", folder / "checkpoints/moving_digits/predrnn.pt")
    manifest = json.loads((ROOT / "data" / "manifest.json").read_text())
    keep = {"moving_digits_test.npz", "checkpoints/moving_digits/predrnn.pt"}
    manifest["files"] = {k: v for k, v in manifest["files"].items() if k in keep}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("STLEARN_DATA", str(folder))
    return folder


def test_every_stored_file_is_in_the_manifest_and_matches():
    from stlearn import integrity

    rows = integrity.verify_all(ROOT / "data")
    assert rows and all(status == "ok" for _, status in rows), [r for r in rows if r[1] != "ok"]
    assert {"moving_digits_test.npz", "checkpoints/radar/predrnn.pt"} <= {rel for rel, _ in rows}


def test_a_flipped_byte_in_the_stored_split_is_caught_on_load_and_by_make_check(data_copy, capsys):
    from stlearn.data.datasets import load_moving_digits_test
    from stlearn.data.make import main as make_main

    assert make_main(["check"]) == 0
    assert "moving_digits_test.npz: ok" in capsys.readouterr().out
    path = data_copy / "moving_digits_test.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="moving_digits_test.npz does not match its sha256 in .*manifest.json"):
        load_moving_digits_test()
    t0 = time.time()
    assert make_main(["check"]) == 1  # verified from the stored hashes: no regeneration
    out = capsys.readouterr().out
    assert "moving_digits_test.npz: MISMATCH" in out and time.time() - t0 < 30


def test_a_damaged_compressed_stream_is_a_data_file_error(tmp_path):
    from stlearn.data.store import frames_sha256, load_frames, save_frames

    frames = (np.arange(4 * 3 * 16 * 16) % 7).astype(np.uint8).reshape(4, 3, 16, 16)  # compressible
    path = tmp_path / "f.npz"
    save_frames(path, frames)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len  # the deflate stream, after the local header
    for offset in (0, 1, 7, info.compress_size // 2):
        bad = bytearray(raw)
        for j in range(8):
            bad[start + offset + j] ^= 0xFF
        path.write_bytes(bytes(bad))
        with pytest.raises(DataFileError, match=r"f.npz is unreadable or corrupted|does not match"):
            load_frames(path, frames_sha256(frames), "moving-digits")


def test_a_shipped_checkpoint_resaved_with_another_configuration_is_refused(data_copy):
    from stlearn.training.pretrained import _load, load_pretrained

    _load.cache_clear()
    try:
        path = data_copy / "checkpoints/moving_digits/predrnn.pt"
        payload = torch.load(path, weights_only=True)
        payload["model"]["config"]["zigzag"] = False  # version 1: no record digest; the manifest pins the file
        torch.save(payload, path)
        with pytest.raises(CheckpointError, match="predrnn.pt does not match its sha256 in .*git checkout"):
            load_pretrained("moving_digits", "predrnn")
    finally:
        _load.cache_clear()


def test_a_damaged_pool_cache_is_regenerated_never_trained_on(tmp_path):
    from stlearn.training.batches import BatchSource, checksum_path

    def source():
        return BatchSource("moving_digits", "train", {"canvas_size": 32, "digit_size": 14}, pool_size=6,
                           cache_dir=tmp_path)  # fmt: skip

    first = source()
    expected = first.batch(0, 4)
    path = first.pool_path()
    assert checksum_path(path).is_file()
    np.save(path, 255 - np.load(path))  # an inverted pool: still a valid .npy
    with pytest.warns(RuntimeWarning, match="does not match the sha256 .* regenerating"):
        again = source().batch(0, 4)
    torch.testing.assert_close(again, expected, rtol=0, atol=0)
    checksum_path(path).unlink()
    with pytest.warns(RuntimeWarning, match="has no checksum file"):
        torch.testing.assert_close(source().batch(0, 4), expected, rtol=0, atol=0)
    path.write_bytes(b"not a pool")
    checksum_path(path).write_text("0" * 64 + "\n")
    with pytest.warns(RuntimeWarning, match="regenerating"):
        torch.testing.assert_close(source().batch(0, 4), expected, rtol=0, atol=0)


def test_every_error_class_is_a_stlearn_error_and_its_builtin():
    from stlearn.interop import CheckpointMismatchError

    assert issubclass(CheckpointError, StlearnError) and issubclass(CheckpointError, ValueError)
    assert issubclass(DataFileError, StlearnError) and issubclass(DataFileError, RuntimeError)
    assert issubclass(ConfigError, ValueError) and issubclass(RunExistsError, FileExistsError)
    assert issubclass(CheckpointMismatchError, CheckpointError)


def test_load_checkpoint_never_passes_torch_advice_on(tmp_path):
    torch.save({"format": "stlearn-checkpoint", "obj": Unpicklable()}, tmp_path / "obj.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(500))
    for name, what in [("obj.pt", "pickled Python objects"), ("noise.pt", "corrupted")]:
        with pytest.raises(CheckpointError, match=what) as info:
            load_checkpoint(tmp_path / name)
        assert "weights_only" not in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# silently wrong inputs: metrics, models, widgets
# ---------------------------------------------------------------------------------------------


def _frames(b=2, t=3, size=8, seed=0):
    return torch.rand(b, t, 1, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fn", ["mse_per_frame", "mae_per_pixel", "psnr", "ssim", "categorical_counts"])
def test_metrics_refuse_0_255_frames_with_a_hint(fn):
    from stlearn import metrics as M
    from stlearn.errors import InputError

    target = _frames(size=12) * 255
    with pytest.raises(InputError, match=r"'target' has pixels in \[.*\] .* \[0, 1\] \(0-255 frames\? divide by 255\)"):
        getattr(M, fn)(target, target)


def test_metrics_refuse_nan_forecasts_empty_batches_and_string_thresholds():
    from stlearn import metrics as M
    from stlearn.errors import InputError, InputTypeError

    target = _frames()
    pred = target.clone()
    pred[0, 0, 0, 0, 0] = float("nan")
    for call in (lambda: M.mse_per_frame(pred, target), lambda: M.categorical_scores(pred, target),
                 lambda: M.MetricAccumulator(None).update(pred, target)):  # fmt: skip
        with pytest.raises(InputError, match="'pred' holds 1 NaN/Inf pixel"):
            call()
    with pytest.raises(InputError, match="'target' holds 1 NaN/Inf"):
        M.psnr(target, pred)
    with pytest.raises(InputError, match="empty batch of shape \\(0, 3, 1, 8, 8\\)"):
        M.mse_per_frame(target[:0], target[:0])
    with pytest.raises(InputTypeError, match="'thresholds' must be a sequence of dBZ numbers .* got '30'"):
        M.MetricAccumulator(thresholds="30")
    with pytest.raises(InputTypeError, match="must hold dBZ numbers"):
        M.categorical_counts(target, target, thresholds=(30.0, "40"))
    with pytest.raises(ValueError, match="no batches yet"):
        M.MetricAccumulator(None).compute()
    with pytest.raises(InputError, match=r"a forecast must lie in \[-10, 10\] \(0-255 frames\? divide by 255\)"):
        M.mse_per_frame(target * 255, target)
    # a raw forecast overshooting [0, 1] a little is still scored (PSNR clips it, MSE scores the overshoot)
    assert M.mse_per_frame(target * 1.2 - 0.1, target) > 0


@pytest.mark.parametrize("name", ["convlstm", "predrnn", "predrnn_v2", "mim", "trajgru"])
def test_models_refuse_nan_inputs_bad_masks_and_empty_inputs(name):
    from stlearn.errors import InputError
    from stlearn.models import build_model

    model = build_model(name, frame_size=(8, 8), patch_size=2, **({} if name == "trajgru" else
                                                                     {"hidden_channels": [4, 4]}))  # fmt: skip
    x = _frames(t=6)
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[1, 2, 0, 3, 3] = bad
        with pytest.raises(InputError, match="'frames' holds 1 NaN/Inf"):
            model(y, input_len=3)
        with pytest.raises(InputError, match="'inputs' holds 1 NaN/Inf"):
            model.predict(y[:, :3], 2)
    for mask_value in (2.0, -0.5, float("nan")):
        mask = torch.full((2, 4), mask_value)
        with pytest.raises(InputError, match=r"'mask' values must lie in \[0, 1\]"):
            model(x, mask=mask, input_len=3)
    with pytest.raises(InputError, match="has no frames"):
        model.predict(x[:, :0], 3)
    with pytest.raises(InputError, match="has no sequences"):
        model.predict(x[:0, :3], 3)
    assert model.predict(x[:, :3], 2).shape == (2, 2, 1, 8, 8)


def test_widgets_range_check_sequences_and_name_the_models_they_support():
    from stlearn.errors import InputError, InputTypeError
    from stlearn.models import build_model
    from stlearn.widgets import CellExplorer, GateExplorer

    frames = (torch.rand(3, 6, 1, 8, 8) * 255).to(torch.uint8)
    conv = build_model("convlstm", hidden_channels=[4], frame_size=(8, 8), patch_size=2)
    for bad in ([5], [-1], [0, 3], [], ["0"], [True]):
        with pytest.raises(InputError, match="sequence|at least one"):
            GateExplorer(conv, frames, sequences=bad, input_len=3)
    ex = GateExplorer(conv, frames, sequences=(0, 2), input_len=3)
    with pytest.raises(InputError, match=r"sequence 7 does not exist; there are 3 \(0 … 2\)"):
        ex.trace_of(7)
    traj = build_model("trajgru", frame_size=(8, 8), patch_size=2)
    mim = build_model("mim", hidden_channels=[4, 4], frame_size=(8, 8), patch_size=2)
    t0 = time.perf_counter()
    with pytest.raises(InputTypeError, match="GateExplorer supports the ConvLSTM, PredRNN and PredRNN-V2.*trajgru"):
        GateExplorer(traj, frames, input_len=3)
    with pytest.raises(InputTypeError, match="CellExplorer supports the ConvLSTM, PredRNN and PredRNN-V2.*mim"):
        CellExplorer(mim, frames[0], input_len=3)
    assert time.perf_counter() - t0 < 0.1  # answered before any model pass


def test_zigzag_flow_range_checks_sequences():
    from stlearn.errors import InputError
    from stlearn.models import build_model
    from stlearn.widgets import ZigzagFlow

    model = build_model("predrnn", hidden_channels=[4, 4], frame_size=(8, 8), patch_size=2)
    with pytest.raises(InputError, match="sequence 9 does not exist"):
        ZigzagFlow(model, torch.rand(2, 6, 1, 8, 8), sequences=(9,), input_len=3)


# ---------------------------------------------------------------------------------------------
# under load (issue 21): 4 training runs and 2 evaluations at once (tiny runs: ~30 s on 2 cores)
# ---------------------------------------------------------------------------------------------


def test_under_load_distinct_outputs_match_alone_and_one_output_admits_one(tmp_path):
    cfg = tmp_path / "load.toml"
    cfg.write_text(TINY_TOML + "iterations = 40\nval_every = 20\n")
    # alone
    alone = _cli("train", str(cfg), "--out", str(tmp_path / "alone.pt"), "--no-progress")
    assert alone.wait(timeout=600) == 0
    ev_alone = tmp_path / "ev_alone.json"
    proc = _cli("evaluate", str(tmp_path / "alone.pt"), "--split", "val", "--sequences", "8", "--out", str(ev_alone))
    assert proc.wait(timeout=600) == 0
    # at once, distinct outputs: 4 runs and 2 evaluations
    runs = [_cli("train", str(cfg), "--out", str(tmp_path / f"r{i}.pt"), "--no-progress") for i in range(4)]
    evals = [_cli("evaluate", str(tmp_path / "alone.pt"), "--split", "val", "--sequences", "8",
                  "--out", str(tmp_path / f"ev{i}.json")) for i in range(2)]  # fmt: skip
    for p in runs + evals:
        assert p.wait(timeout=900) == 0, p.communicate()
    reference = load_checkpoint(tmp_path / "alone.pt").state_dict
    for i in range(4):
        state = load_checkpoint(tmp_path / f"r{i}.pt").state_dict
        for k, v in reference.items():
            torch.testing.assert_close(state[k], v, rtol=0, atol=0)
    for i in range(2):
        assert json.loads((tmp_path / f"ev{i}.json").read_text())["means"] == json.loads(ev_alone.read_text())["means"]
    # at once, one output: all but one refuse at once with one line, exit 2
    same = [_cli("train", str(cfg), "--out", str(tmp_path / "same.pt"), "--no-progress") for _ in range(4)]
    results = [(p.wait(timeout=900), p.communicate()[1]) for p in same]
    assert sorted(rc for rc, _ in results) == [0, 2, 2, 2], results
    for rc, err in results:
        if rc == 2:
            _one_line_error(err, "same.pt")
            assert "being written by another training run" in err or "exists" in err


def test_evaluate_says_which_checkpoints_it_scores(capsys):
    assert main(["evaluate", "data/checkpoints/traffic/convlstm.pt", "--sequences", "2"]) == 2
    _one_line_error(capsys.readouterr().err, "stlearn evaluate scores moving_digits and radar checkpoints")
