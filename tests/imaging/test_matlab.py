"""MATLAB's imresize (``imaging.matlab``): bit-exact against MATLAB's own output on the shared
oracles, its shapes, ``mod_crop`` and its errors."""

import numpy as np
import pytest
from conftest import ORACLE_NAMES, shared_image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.imaging.matlab import imresize, mod_crop


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imresize_reproduces_matlab_bit_exactly(scale):
    for name in ORACLE_NAMES:
        hr = shared_image("data", "oracle", "matlab_bicubic", "HR", f"x{scale}", f"{name}.png")
        lr = shared_image("data", "oracle", "matlab_bicubic", "LR", f"x{scale}", f"{name}.png")
        ours = imresize(hr, 1 / scale)
        assert ours.shape == lr.shape
        assert int((ours != lr).sum()) == 0, f"{name} x{scale}"


def test_imresize_contract_and_errors():
    img = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert imresize(img, 2).shape == (34, 46, 3)
    assert imresize(img[..., 0], 1 / 3).shape == (6, 8)
    assert mod_crop(img, 4).shape == (16, 20, 3)
    flat = np.full((9, 9), 77, np.uint8)
    assert (imresize(flat, 0.5) == 77).all() and (imresize(flat, 3) == 77).all()
    with pytest.raises(ValueError, match="uint8"):
        imresize(img.astype(np.float32), 0.5)


@pytest.mark.parametrize("scale", [True, False, 0, -0.5, float("nan"), float("inf"), "2"])
def test_imresize_refuses_a_scale_that_is_no_positive_number(scale):
    """``True`` was taken as 1 (fuzz pass 21); the other public functions refuse a bool."""
    with pytest.raises(MaffsrnError, match=r"^scale=.* is not a positive finite number$"):
        imresize(np.zeros((4, 4), np.uint8), scale)
