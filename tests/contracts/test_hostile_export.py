"""Hostile and careless values of ``maffsrn-export --serving_max_megapixels`` (the SavedModel's
pixel limit), checked as ``test_hostile`` checks every command: exit code 1, one ``error:``
line naming the problem, no traceback, nothing written, inputs unchanged. All are refused
before TensorFlow is imported."""

import pytest
from test_hostile import Case
from test_hostile import test_hostile_input as check_case  # not collected twice: renamed

EXPORT = ["export", "--formats", "saved_model", "--scales", "2", "--noverify",
          "--output_dir", "out", "--serving_max_megapixels"]  # fmt: skip
POSITIVE = "--serving_max_megapixels must be a positive number"
CASES = [
    Case("export-serving-limit-zero", [*EXPORT, "0"], error=POSITIVE),
    Case("export-serving-limit-negative", [*EXPORT, "-1"], error=POSITIVE),
    Case("export-serving-limit-nan", [*EXPORT, "nan"], error=POSITIVE),
    Case("export-serving-limit-infinite", [*EXPORT, "inf"], error=POSITIVE),
    Case(
        "export-serving-limit-not-a-number",
        [*EXPORT, "16MP"],
        error="--serving_max_megapixels",
    ),
    Case(
        "export-serving-limit-below-one-minimum-image",
        [*EXPORT, "0.0001"],
        error="--serving_max_megapixels must be from 0.000169 (one 13x13 image) to 1e+06, "
        "got 0.0001",
    ),
    Case(
        "export-serving-limit-absurd",
        [*EXPORT, "1e9"],
        error="--serving_max_megapixels must be from 0.000169",
        absent="max_input_pixels",  # the flag's words, not the library's
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_export_input(case, tmp_path):
    check_case(case, tmp_path)
