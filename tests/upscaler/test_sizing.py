"""Any output size (``outscale``, ``width``/``height``): which model runs, how large the
result is, and that it is the model's output resized, through ``upscale()``."""

import numpy as np
import pytest

from maffsrn_tf import MaffsrnError
from maffsrn_tf.upscaler import sizing, upscale
from maffsrn_tf.upscaler.options import UpscaleOptions
from tests.conftest import photo


@pytest.mark.parametrize(
    "factor, scale", [(1, 2), (2, 2), (2.01, 3), (2.5, 3), (3, 3), (3.5, 4), (4, 4), (7, 4)]
)
def test_the_smallest_shipped_scale_at_or_above_the_factor_runs(factor, scale):
    assert sizing.model_scale(factor) == scale


def test_plans_give_round_factor_times_the_input_or_fit_the_box():
    assert UpscaleOptions(outscale=3.5).plan(41, 53) == (4, 144, 186)  # round(143.5), 185.5
    assert UpscaleOptions(width=300).plan(100, 80) == (4, 375, 300)
    assert UpscaleOptions(height=150).plan(100, 80) == (2, 150, 120)
    assert UpscaleOptions(width=300, height=200).plan(100, 80) == (2, 200, 160)  # fits the box
    assert UpscaleOptions(scale=3).plan(10, 20) == (3, 30, 60)
    assert UpscaleOptions().name_factor(10, 20) == "x2"
    assert UpscaleOptions(outscale=2.5).name_factor(10, 20) == "x2.5"
    assert UpscaleOptions(outscale=2).name_factor(10, 20) == "x2"
    assert UpscaleOptions(width=300).name_factor(100, 80) == "300x375"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"outscale": 0}, "outscale=0 is below 1.0"),
        ({"outscale": -1.0}, "outscale=-1.0 is below 1.0"),
        ({"outscale": float("nan")}, "outscale=nan is not a finite number"),
        ({"outscale": 17}, "outscale=17 is above 16"),
        ({"width": 0}, "width=0 is below 1"),
        ({"width": 10, "outscale": 2}, "both set the output size"),
        ({"scale": 2, "height": 10}, "scale=2 and height=10 both set the output size"),
        ({"skip_existing": True, "overwrite": True}, "contradict"),
        ({"background": "sky"}, "background='sky' is not a colour"),
    ],
)
def test_bad_sizes_are_refused_where_the_options_are_made(kwargs, message):
    with pytest.raises(MaffsrnError, match=message.replace("(", r"\(")):
        UpscaleOptions(**kwargs)


def test_a_box_below_the_image_or_beyond_x16_is_refused_per_image():
    with pytest.raises(MaffsrnError, match=r"width=10 asks for x0.5 of a 20x10 image"):
        UpscaleOptions(width=10).plan(10, 20)
    with pytest.raises(MaffsrnError, match="between x1 and x16"):
        UpscaleOptions(width=1000).plan(10, 20)


def test_outscale_is_the_model_output_resized_by_lanczos():
    """x3.5 is the x4 model's result shrunk to round(3.5 x side) (colour and alpha alike)."""
    rgb = photo(41, 53)
    out = upscale(rgb, outscale=3.5)
    assert out.shape == (144, 186, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, sizing.resize(upscale(rgb, scale=4), 144, 186))
    same = upscale(rgb, outscale=2)  # a shipped scale: no resize at all
    np.testing.assert_array_equal(same, upscale(rgb, scale=2))
    wide = upscale(rgb, width=100)
    assert wide.shape == (round(41 * 100 / 53), 100, 3)
    np.testing.assert_array_equal(wide, sizing.resize(upscale(rgb, scale=2), 77, 100))


def test_resize_keeps_dtype_and_premultiplies_alpha():
    """A white square on transparent black: resizing premultiplied keeps its edge white."""
    rgba = np.zeros((40, 40, 4), np.uint16)
    rgba[10:30, 10:30] = 65535
    out = sizing.resize(rgba, 70, 70)
    assert out.dtype == np.uint16 and out.shape == (70, 70, 4)
    visible = out[..., 3] > 65535 // 2
    assert out[..., :3][visible].min() >= 65535 - 257  # within a level of white
    gray = sizing.resize(np.full((5, 7), 200, np.uint8), 9, 12)
    assert gray.shape == (9, 12) and (gray == 200).all()


def test_upscale_takes_the_new_options_and_refuses_bad_ones():
    with pytest.raises(MaffsrnError, match="outscale=0.5 is below 1.0"):
        upscale(photo(), outscale=0.5)
    with pytest.raises(MaffsrnError, match="progress=5 is not a function"):
        upscale(photo(), progress=5)
    with pytest.raises(MaffsrnError, match="num_threads=0 is not positive"):
        upscale(photo(), num_threads=0)
