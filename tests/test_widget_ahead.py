"""Computing ahead (stlearn.widgets._ahead): what a view computes in the background is what it would compute when
asked, kept, waited for when in progress, never computed twice, and a new plan replaces the old one."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
import torch

from stlearn.models import ConvLSTM, PredRNN
from stlearn.widgets import ConnectivityExplorer
from stlearn.widgets._ahead import ComputeAhead, LoopAhead, later, neighbours


def test_get_computes_keeps_and_counts():
    calls = []
    ahead = ComputeAhead(lambda k: calls.append(k) or k * 2, keep=2)
    assert ahead.get(1) == 2 and ahead.get(1) == 2 and calls == [1]
    ahead.get(2)
    ahead.get(3)  # keeps the last two
    assert 1 not in ahead and 2 in ahead and 3 in ahead and ahead.computed == 3 and ahead.hits == 0


def test_plan_computes_in_the_background_and_get_uses_it():
    threads = []
    ahead = ComputeAhead(lambda k: threads.append(threading.current_thread().name) or k + 100)
    ahead.plan([5, 6])
    assert ahead.wait(10)
    assert threads == ["stlearn-ahead", "stlearn-ahead"] and ahead.ahead == 2
    assert ahead.get(6) == 106 and ahead.hits == 1 and ahead.computed == 2  # no second computation


def test_a_new_plan_replaces_the_old_one_and_get_waits_for_a_key_in_progress():
    started = threading.Event()
    release = threading.Event()
    done = []

    def slow(k):
        if k == "a":
            started.set()
            release.wait(10)
        done.append(k)
        return k.upper()

    ahead = ComputeAhead(slow)
    ahead.plan(["a", "b"])
    assert started.wait(10)
    ahead.plan(["c"])  # "b" is dropped; "a" is in progress
    result = []
    waiter = threading.Thread(target=lambda: result.append(ahead.get("a")))
    waiter.start()
    time.sleep(0.05)
    assert not result  # waiting for the background, not computing "a" a second time
    release.set()
    waiter.join(10)
    assert ahead.wait(10)
    assert result == ["A"] and sorted(done) == ["a", "c"]


def test_a_failure_ahead_is_not_kept_and_raises_when_asked_for():
    def compute(k):
        if k < 0:
            raise ValueError("negative")
        return k

    ahead = ComputeAhead(compute)
    ahead.plan([-1, 2])
    assert ahead.wait(10) and -1 not in ahead and 2 in ahead
    with pytest.raises(ValueError, match="negative"):
        ahead.get(-1)


def test_cheap_computations_are_not_computed_ahead():
    ahead = ComputeAhead(lambda k: k)
    ahead.get(0)  # ~µs: computing ahead would only compete with the browser's paint
    ahead.plan([1, 2])
    assert ahead.cost < ahead.MIN_COST and ahead.wait(1) and ahead.ahead == 0 and 1 not in ahead

    def costly(k):  # busy for twice the threshold
        end = time.process_time() + 2 * ComputeAhead.MIN_COST
        while time.process_time() < end:
            pass
        return k

    ahead = ComputeAhead(costly)
    ahead.get(0)
    ahead.plan([1])
    assert ahead.cost >= ahead.MIN_COST and ahead.wait(10) and ahead.ahead == 1 and 1 in ahead


def test_the_background_waits_for_the_browser_to_paint_first():
    started = []
    ahead = ComputeAhead(lambda k: started.append(time.monotonic()) or k)
    planned = time.monotonic()
    ahead.plan([1])
    assert ahead.wait(10) and started[0] - planned >= ahead.PAUSE * 0.99


def test_without_background_plans_do_nothing():
    ahead = ComputeAhead(lambda k: k, background=False)
    ahead.plan([1, 2])
    assert ahead.wait(1) and ahead.computed == 0 and 1 not in ahead


def test_neighbours_put_the_continuation_of_the_last_move_first():
    assert neighbours(range(10), 4, 3) == [5, 3]
    assert neighbours(range(10), 4, 5) == [3, 5]
    assert neighbours(range(10), 0) == [1] and neighbours(range(10), 9, 8) == [8]
    assert neighbours(["a", "b"], "z") == []


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {"ConvLSTM": ConvLSTM(frame_size=(16, 16), patch_size=2, hidden_channels=[4, 4]).eval(),
            "PredRNN": PredRNN(frame_size=(16, 16), patch_size=2, hidden_channels=[4, 4]).eval()}  # fmt: skip


def test_connectivity_computes_the_next_pixels_ahead_with_the_same_maps(models):
    frames = torch.rand(2, 6, 1, 16, 16)
    view = ConnectivityExplorer(models, frames, sequences=[0, 1], input_len=3)
    view.maps.MIN_COST = 0.0  # these tiny models' maps are cheaper than worth computing ahead in a lesson
    y, x = view.row.value, view.col.value
    view.col.value = (x + 1) % 16 if x < 15 else x - 1
    assert view.maps.wait(30)
    step = view.col.value + (view.col.value - x)
    assert (0, 1, y, step) in view.maps or not 0 <= step < 16  # the next step of the move, computed ahead
    for key in [(0, 1, y, step), (0, 2, y, view.col.value), (0, 1, (y + 1) % 16, view.col.value)]:
        if key in view.maps:
            computed = view._compute_maps(key)
            kept = view.maps.get(key)
            for a, b in zip(kept, computed, strict=True):
                np.testing.assert_array_equal(a.maps, b.maps)
    backwards = sum(p.backwards for p in view._probes.values())
    if 0 <= step < 16:
        view.col.value = step  # computed ahead: no backward pass now
        assert view.canvas.last_error is None and view.maps.hits >= 1
        assert sum(p.backwards for p in view._probes.values()) == backwards
        assert {inf.col for inf in view.influences.values()} == {step}


def test_connectivity_computes_a_sequence_seen_before_ahead(models):
    view = ConnectivityExplorer(models, torch.rand(3, 6, 1, 16, 16), sequences=[0, 1, 2], input_len=3)
    view.maps.MIN_COST = 0.0  # (tiny models: cheaper than worth computing ahead in a lesson)
    view.sequence.value = 1  # seen now: its forward passes are kept
    assert view.maps.wait(30)
    view.sequence.value = 0
    for _ in range(2):  # two steps: a pixel that was not one step from the one shown on sequence 1
        view.row.value = (view.row.value + 1) % 16
        assert view.maps.wait(30)
    key = (1, view.lead.value, view.row.value, view.col.value)
    assert key in view.maps  # the sequence seen before, at the new pixel, computed ahead
    assert not any(k[0] == 2 for k in view.maps._values)  # sequence 2, never seen: no forward pass in the background
    hits = view.maps.hits
    view.sequence.value = 1
    assert view.canvas.last_error is None and view.maps.hits == hits + 1
    np.testing.assert_array_equal(view.influences[next(iter(models))].maps, view._compute_maps(key)[0].maps)


def test_connectivity_can_be_told_not_to_compute_ahead(models):
    view = ConnectivityExplorer(models, torch.rand(1, 6, 1, 16, 16), input_len=3, ahead=False)
    view.row.value = (view.row.value + 1) % 16
    time.sleep(0.2)
    assert view.maps.ahead == 0 and sum(p.backwards for p in view._probes.values()) == 2 * 2


def test_the_background_thread_ends_when_idle_and_a_new_plan_starts_another():
    ahead = ComputeAhead(lambda k: k)
    ahead.IDLE, ahead.MIN_COST = 0.2, 0.0  # plan even cheap keys
    ahead.plan([1])
    assert ahead.wait(10)
    deadline = time.monotonic() + 10
    while ahead._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ahead._thread is None  # ended: a view no longer shown does not keep a thread (and itself) alive
    ahead.plan([2])
    assert ahead.wait(10) and 2 in ahead and ahead.ahead == 2


def test_stop_waits_for_the_key_in_progress_and_plans_nothing_more():
    started, finished = threading.Event(), []

    def slow(k):
        started.set()
        time.sleep(0.2)
        finished.append(k)
        return k

    ahead = ComputeAhead(slow)
    ahead.plan([1, 2, 3])
    assert started.wait(10)
    ahead.stop()
    assert finished == [1]  # the pass in progress ended; the rest of the plan was dropped
    ahead.plan([4])
    time.sleep(0.2)
    assert 4 not in ahead and ahead.get(5) == 5  # asking still computes


def test_stlearn_ahead_0_in_the_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("STLEARN_AHEAD", "0")
    ahead = ComputeAhead(lambda k: k)
    ahead.plan([1])
    assert not ahead.background and ahead.wait(1) and 1 not in ahead


def test_one_step_plan_puts_the_moved_control_first_then_one_step_of_each():
    from stlearn.widgets._ahead import one_step_plan

    steps = {"a": ["a+", "a-"], "b": ["b+", "b-"], "c": []}
    assert one_step_plan(steps, ["b"], 10) == ["b+", "a+", "b-", "a-"]
    assert one_step_plan(steps, [], 3) == ["a+", "b+", "a-"]


def test_later_runs_on_the_running_event_loop_and_drops_its_errors(monkeypatch):
    assert later(0.0, lambda: None) is None  # no loop runs here (plain Python): nothing is scheduled
    ran: list[str] = []

    def boom() -> None:
        ran.append("boom")
        raise RuntimeError("dropped: the view's own update redoes it")

    async def main() -> None:
        later(0.01, lambda: ran.append(threading.current_thread().name))
        later(0.0, boom)
        later(0.0, lambda: ran.append("cancelled")).cancel()
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert ran == ["boom", threading.current_thread().name]  # in the loop's thread, after the delay; none cancelled
    monkeypatch.setenv("STLEARN_AHEAD", "0")

    async def off() -> None:
        assert later(0.0, lambda: ran.append("off")) is None

    asyncio.run(off())


def test_loop_ahead_does_one_piece_a_turn_looks_again_while_waiting_and_is_cancelled_by_the_next_update(monkeypatch):
    monkeypatch.setattr(ComputeAhead, "PAUSE", 0.0)
    pieces = [True, True, False]  # two pieces to draw, then nothing ready
    log: list[str] = []

    def one() -> bool:
        log.append("piece")
        return pieces.pop(0) if pieces else False

    def waiting() -> bool:  # the background has not made the next piece's runs yet
        log.append("waiting?")
        return True

    async def main() -> None:
        ahead = LoopAhead()
        ahead.start(one, waiting, retry=0.01, tries=3)
        for _ in range(3):  # one piece per turn of the loop: a key press queued in between is served first
            await asyncio.sleep(0)
        log.append("key press")
        await asyncio.sleep(0.1)
        ahead.start(one)  # no waiting: ends at the first turn that draws nothing
        ahead.cancel()  # the next update comes first: nothing runs
        await asyncio.sleep(0.05)

    asyncio.run(main())
    # two pieces, a turn that finds nothing ready, then two more looks (three in all) while it waits
    assert log == ["piece", "piece", "key press", "piece", "waiting?", "piece", "waiting?", "piece"]
    LoopAhead().start(one)  # no loop runs here (plain Python): nothing is scheduled
    assert log[-1] == "piece" and len(log) == 8
