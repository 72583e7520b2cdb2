"""What the shipped generators must not do to a real photo: recolour it, add a grid, or change when tiled.

Small crops of ../shared/data/real_blur; benchmarks/model_properties.py measures the same on 512-px crops
(figures in docs/MODELS.md).
"""

from pathlib import Path

import numpy as np
import pytest
from script_module import load_script

from deblur_tf.metrics import channel_mean_shift, checkerboard_score, psnr
from deblur_tf.zoo import load_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
props = load_script("benchmarks/model_properties.py")


def test_checkerboard_score_sees_a_faint_grid_and_nothing_else():
    import cv2

    rng = np.random.default_rng(0)
    ref = rng.uniform(0.2, 0.8, (128, 128, 3))
    white = 0.01 * rng.standard_normal((128, 128, 3))  # broadband change, 2.5 levels rms
    smooth = cv2.GaussianBlur(white, (0, 0), 1.5) * 4  # a change with natural-image-like falloff
    yy, xx = np.mgrid[:128, :128]
    grid2 = ((yy + xx) % 2 * 2 - 1)[..., None] / 255
    grid4 = ((yy // 2 + xx // 2) % 2 * 2 - 1)[..., None] / 255  # period 4: two stride-2 upsamplings
    for change in (white, smooth):
        assert checkerboard_score(ref + change, ref) < 2.0
    assert checkerboard_score(ref + smooth + 0.5 * grid2, ref) > 100.0
    assert checkerboard_score(ref + smooth + 0.5 * grid4, ref) > 100.0
    assert checkerboard_score(ref + white + 2 * grid2, ref) > 100.0  # even under strong broadband noise


def test_channel_mean_shift_in_levels():
    ref = np.full((8, 8, 3), 0.5)
    moved = ref + np.array([2.0, 0.0, -1.0]) / 255
    np.testing.assert_allclose(channel_mean_shift(moved, ref), [2.0, 0.0, -1.0], atol=1e-9)


def _real(name: str, size: int) -> np.ndarray:
    return props.centre_crop(props.load01(SHARED / "data" / "real_blur" / "unpaired" / name), size)


@pytest.mark.parametrize("photo", ["01.png", "4c6.png"])
def test_mobile_model_keeps_colours_adds_no_grid_and_tiles_exactly(photo):
    row = props.measure(load_model("deblurgan-mobile"), _real(photo, 256), tile=128)
    assert max(abs(row["shift_r"]), abs(row["shift_g"]), abs(row["shift_b"])) < 2.0, row
    assert row["checker"] < 3.0, row
    assert row["tiled_vs_full_db"] > 60.0, row  # no normalisation over the image: tiles agree to float noise


def test_paper_model_keeps_colours_adds_no_grid_and_tiling_costs_under_0_3_db():
    """The paper generator has instance norm (statistics per tile), so tiling changes pixels a little; what
    matters is that it does not change the quality against the sharp photo."""
    blur_path = SHARED / "data" / "real_blur" / "paired" / "blur" / "street.jpg"
    blurred = props.centre_crop(props.load01(blur_path), 256)
    sharp = props.centre_crop(props.load01(blur_path.parent.parent / "sharp" / "street.jpg"), 256)
    row = props.measure(load_model("deblurgan"), blurred, tile=160, sharp01=sharp)
    assert max(abs(row["shift_r"]), abs(row["shift_g"]), abs(row["shift_b"])) < 2.0, row
    assert row["checker"] < 3.0, row
    assert abs(row["psnr_full"] - row["psnr_tiled"]) < 0.3, row
    assert row["tiled_vs_full_db"] > 25.0, row
    assert psnr(blurred, sharp) == pytest.approx(row["psnr_input"], abs=1e-3)
    # the pair's own exposure difference, the shift a perfect restoration would show (street's sharp frame
    # is brighter in red and green: +11.5 / +12.5 levels on this 256 crop)
    truth = channel_mean_shift(sharp, blurred)
    assert [row["sharp_shift_r"], row["sharp_shift_g"], row["sharp_shift_b"]] == pytest.approx(truth, abs=1e-3)
    assert truth[0] > 5.0 and truth[1] > 5.0, truth


def test_a_wider_tile_overlap_brings_a_nafnet_closer_to_its_whole_image_output():
    """NAFNet has no normalisation over the image, but its reach is wider than an 8-px overlap: `--overlap`
    of the benchmark (deblur's `--overlap`) moves the tiled output toward the whole-image one."""
    blurred = _real("4c6.png", 256)
    small = load_model("nafnet-small")
    narrow = props.measure(small, blurred, tile=128, overlap=8)["tiled_vs_full_db"]
    wide = props.measure(small, blurred, tile=128, overlap=40)["tiled_vs_full_db"]
    assert wide > narrow + 1.0, (narrow, wide)
