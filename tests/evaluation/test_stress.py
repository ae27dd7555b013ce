"""The graphics stress set as a library (``maffsrn_tf.evaluation.stress``): the evaluation
seed is never a calibration seed, ``tools/stress_set.py`` writes the same images, and the
canvases keep every scale's mod-crop whole."""

import numpy as np
from PIL import Image

from maffsrn_tf.evaluation import stress_images, write_stress_set
from maffsrn_tf.evaluation.stress import CALIBRATION_SEEDS, EVALUATION_SEED, IMAGES


def test_the_test_seed_is_not_a_calibration_seed():
    assert EVALUATION_SEED == 0 and EVALUATION_SEED not in CALIBRATION_SEEDS


def test_written_pngs_hold_the_arrays(tmp_path):
    images = stress_images(seed=EVALUATION_SEED, scale=0.3)
    paths = write_stress_set(tmp_path / "s", seed=EVALUATION_SEED, scale=0.3)
    assert [n for n, _ in images] == [f"{i:02d}_{f.__name__}" for i, f in enumerate(IMAGES)]
    for (name, array), path in zip(images, paths):
        assert path.endswith(f"{name}.png")
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), array)
        assert array.dtype == np.uint8 and array.shape[0] % 12 == 0 == array.shape[1] % 12
