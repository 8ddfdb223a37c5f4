"""Frame patching: the official PredRNN channel order, round trips, and clear errors."""

from __future__ import annotations

import pytest
import torch

from stlearn.models.patching import patch_frames, unpatch_frames


def test_channel_order_against_hand_indexing() -> None:
    # 1 sequence, 1 step, C = 2 channels, 4×4 frame, p = 2: every value says where it came from
    b, t, c, h, w, p = 1, 1, 2, 4, 4, 2
    frames = torch.zeros(b, t, c, h, w)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                frames[0, 0, ch, y, x] = 100 * ch + 10 * y + x
    patched = patch_frames(frames, p)
    assert patched.shape == (1, 1, p * p * c, h // p, w // p)
    for py in range(h // p):
        for px in range(w // p):
            for dy in range(p):
                for dx in range(p):
                    for ch in range(c):
                        index = (dy * p + dx) * c + ch  # the reference code's order
                        expected = 100 * ch + 10 * (py * p + dy) + (px * p + dx)
                        assert patched[0, 0, index, py, px].item() == expected


def test_not_pixel_unshuffle_order() -> None:
    frames = torch.rand(1, 1, 3, 4, 4)
    ours = patch_frames(frames, 2)[:, 0]
    torch_order = torch.nn.functional.pixel_unshuffle(frames[:, 0], 2)
    assert not torch.equal(ours, torch_order)
    assert torch.equal(ours.sort(dim=1).values, torch_order.sort(dim=1).values)  # same values, other order


def test_channels_last_matches_the_reference_reshape() -> None:
    # the official reshape_patch on (B, T, H, W, C), written out with reshape/transpose
    b, t, h, w, c, p = 2, 3, 8, 12, 3, 4
    nhwc = torch.rand(b, t, h, w, c)
    ref = nhwc.reshape(b, t, h // p, p, w // p, p, c).transpose(3, 4).reshape(b, t, h // p, w // p, p * p * c)
    assert torch.equal(patch_frames(nhwc, p, channels_last=True), ref)
    # channels-first gives the same patches, channels moved to dimension 2
    nchw = nhwc.permute(0, 1, 4, 2, 3)
    assert torch.equal(patch_frames(nchw, p), ref.permute(0, 1, 4, 2, 3))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("p", [1, 2, 4])
def test_round_trip(p: int, channels_last: bool) -> None:
    frames = torch.rand(2, 3, 8, 8, 2) if channels_last else torch.rand(2, 3, 2, 8, 8)
    patched = patch_frames(frames, p, channels_last=channels_last)
    assert torch.equal(unpatch_frames(patched, p, channels_last=channels_last), frames)


def test_patch_size_one_is_identity() -> None:
    frames = torch.rand(1, 2, 3, 5, 7)
    assert torch.equal(patch_frames(frames, 1), frames)


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"frame size \(H, W\) = \(30, 32\).*divisible by patch_size = 4"):
        patch_frames(torch.rand(1, 2, 1, 30, 32), 4)
    with pytest.raises(ValueError, match=r"'frames' must have 5 dimensions"):
        patch_frames(torch.rand(2, 1, 8, 8), 2)
    with pytest.raises(ValueError, match=r"'patches' has 6 channels, which is not divisible by patch_size² = 4"):
        unpatch_frames(torch.rand(1, 1, 6, 4, 4), 2)
    with pytest.raises(ValueError, match="patch_size"):
        patch_frames(torch.rand(1, 1, 1, 4, 4), 0)
