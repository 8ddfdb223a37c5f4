"""ForecastPlayer (course map, lesson 1): input | forecast | truth, played without running the model again."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stlearn.errors import InputError, InputTypeError
from stlearn.metrics import mse_per_frame, persistence_forecast
from stlearn.widgets import ForecastPlayer


class _Counting:
    """persistence with a counter: how often the view asks for a forecast."""

    def __init__(self):
        self.calls = 0

    def predict(self, inputs, pred_len):
        self.calls += 1
        return persistence_forecast(inputs, pred_len)


def _frames(n=3, t=20, size=16, seed=0):
    return torch.rand(n, t, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_forecast_once_then_play_swaps_pictures():
    model, frames = _Counting(), _frames()
    player = ForecastPlayer({"toy": (model, frames, "moving_digits")}, sequence=1)
    assert model.calls == 1
    assert sorted(player.canvas.kept) == list(range(20)), "every frame's picture is made with the view"
    assert player.canvas.image.value == player.canvas.kept[0], "the image shows frame 0"
    expected = mse_per_frame(persistence_forecast(frames[1:2, :10], 10), frames[1:2, 10:], reduction="lead").numpy()
    np.testing.assert_allclose(player.mse["toy"], expected, rtol=1e-6)
    np.testing.assert_array_equal(player.forecasts["toy"][3], frames[1, 9, 0].numpy())  # persistence: the last input
    first = player.canvas.image.value
    for t in range(20):
        player.slider.value = t
        assert player.canvas.last_error is None
    assert model.calls == 1, "playing never runs the model"
    assert player.canvas.image.value != first
    # the panels show what the titles say
    player.slider.value = 4
    data = {c: np.asarray(player.images["toy", c].get_array()) for c in ("input", "forecast", "truth")}
    np.testing.assert_allclose(data["input"], frames[1, 4, 0].numpy())
    assert np.isnan(data["forecast"]).all() and np.isnan(data["truth"]).all()
    assert player.texts(4)["toy", "forecast"] == "forecast (reading…)"
    player.slider.value = 15
    data = {c: np.asarray(player.images["toy", c].get_array()) for c in ("input", "forecast", "truth")}
    np.testing.assert_allclose(data["input"], frames[1, 9, 0].numpy())
    np.testing.assert_allclose(data["truth"], frames[1, 15, 0].numpy())
    assert "lead time 6" in player.caption.value and f"MSE/frame {expected[5]:.0f}" in player.caption.value
    # a frame drawn before is the same picture
    player.slider.value = 4
    again = player.canvas.image.value
    player.slider.value = 15
    player.slider.value = 4
    assert player.canvas.image.value == again


def test_play_button_is_linked_to_the_slider():
    player = ForecastPlayer({"a": (_Counting(), _frames(), "moving_digits")})
    assert (player.play.min, player.play.max) == (player.slider.min, player.slider.max) == (0, 19)
    assert player.play in player.widget.children[0].children


def test_two_rows_radar_colours():
    player = ForecastPlayer({"digits": (_Counting(), _frames(), "moving_digits"),
                             "rain": (_Counting(), _frames(seed=1), "radar")})  # fmt: skip
    player.slider.value = 12
    rain = np.asarray(player.images["rain", "truth"].get_array())
    np.testing.assert_allclose(rain, _frames(seed=1)[0, 12, 0].numpy() * 70 - 10, rtol=1e-5)


@pytest.mark.parametrize(
    ("rows", "kwargs", "error", "message"),
    [
        ({}, {}, InputTypeError, "at least one row"),
        ({"a": (object(), _frames(), "moving_digits")}, {}, InputTypeError, "must have .predict"),
        ({"a": (_Counting(), _frames())}, {}, InputTypeError, "must be \\(model, frames, kind\\)"),
        ({"a": (_Counting(), _frames(), "moving_digits")}, {"sequence": 7}, InputError, "sequence 7 does not exist"),
        ({"a": (_Counting(), _frames(), "moving_digits")}, {"input_len": 20}, InputError, "1 ≤ input_len < T = 20"),
        ({"a": (_Counting(), _frames(), "moving_digits"), "b": (_Counting(), _frames(t=14), "moving_digits")},
         {"input_len": 6}, InputError, "same number of frames"),
    ],
)
def test_bad_input_is_refused_clearly(rows, kwargs, error, message):
    with pytest.raises(error, match=message):
        ForecastPlayer(rows, **kwargs)
