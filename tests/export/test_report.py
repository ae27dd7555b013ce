"""The export report as a library: its accuracy columns are the validation datasets' names,
an existing report to merge into is checked, and ``overwrite=False`` leaves an existing file
alone (plain Python: no model is converted)."""

import json

import pytest

from maffsrn_tf.export.recipe import dataset_name
from maffsrn_tf.export.report import (
    read_rows,
    report_markdown,
    worst_cell,
    worst_images,
    write_report,
)
from maffsrn_tf.io.atomic import OutputExists


def entry(name, accuracy, worst=None):
    """A report row; ``worst``: ``{dataset: (image, drop)}`` (rows of reports written
    before issue #43 have none)."""
    io = {"name": "lr", "dtype": "float32", "shape_signature": [1, -1, -1, 3]}
    rows = {k: {"psnr": 30.0, "ssim": 0.9, "drop": d} for k, d in accuracy.items()}
    for k, (image, drop) in (worst or {}).items():
        rows[k].update(worst_image=image, worst_drop=drop)
    return {
        "file": name, "scale": 2, "quantization": "float16", "input_shape": None,
        "bytes": 1024, "latency_s": 0.01, "latency_input": [128, 128],
        "accuracy": rows, "io": {"input": io, "output": {**io, "name": "sr"}},
    }  # fmt: skip


def test_the_columns_are_the_datasets_names():
    table = report_markdown([entry("a.tflite", {"Urban100": 0.1, "my|set": 0.2})])
    header, rule, row = table.splitlines()
    assert (
        "| Urban100 PSNR / SSIM | drop (dB) | worst image, drop (dB) | my\\|set PSNR / SSIM "
        "| drop (dB) | worst image, drop (dB) |" in header
    )
    assert "Set5" not in table and "Set14" not in table
    cells = lambda line: line.replace("\\|", "").count("|")  # noqa: E731 (an escaped | is text)
    assert cells(header) == cells(rule) == cells(row) == 13
    assert "| 30.00 / 0.9000 | +0.1000 | - | 30.00 / 0.9000 | +0.2000 | - |" in row


def test_a_file_not_verified_on_a_dataset_shows_a_dash_and_no_datasets_no_columns():
    table = report_markdown([entry("a.tflite", {"Set5": 0.1}), entry("b.tflite", {"B100": 0.3})])
    lines = table.splitlines()
    assert "| Set5 PSNR / SSIM | drop (dB) | worst image, drop (dB) | B100 PSNR" in lines[0]
    assert "| +0.1000 | - | - | - | - |" in lines[2]
    assert "| - | - | - | 30.00 / 0.9000 | +0.3000 | - |" in lines[3]
    bare = report_markdown([entry("c.tflite", {})]).splitlines()
    assert "PSNR" not in bare[0] and bare[0].count("|") == bare[1].count("|") == bare[2].count("|")


def test_a_dataset_is_named_by_its_folder(tmp_path, monkeypatch):
    assert dataset_name("data/Set5/") == dataset_name("data/Set5") == "Set5"
    monkeypatch.chdir(tmp_path)
    assert dataset_name(".") == tmp_path.name


def test_a_report_to_merge_into_is_checked(tmp_path):
    assert read_rows(str(tmp_path / "none.json")) == []
    garbage = tmp_path / "g.json"
    garbage.write_bytes(b"\x89PNG not json")
    with pytest.raises(ValueError, match="g.json cannot be read as an export report"):
        read_rows(str(garbage))
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"file": "x"}))
    with pytest.raises(ValueError, match="o.json is not an export report"):
        read_rows(str(other))
    with pytest.raises(ValueError, match="is not an export report"):
        write_report(str(tmp_path / "o"), [entry("a.tflite", {})], "merge", merge=True)
    assert json.loads(other.read_text()) == {"file": "x"}  # left as it was


def test_no_overwrite_leaves_an_existing_report_alone(tmp_path):
    base = str(tmp_path / "REPORT")
    (tmp_path / "REPORT.md").write_text("mine")
    with pytest.raises(OutputExists):
        write_report(base, [entry("a.tflite", {"Set5": 0.1})], "first", overwrite=False)
    assert (tmp_path / "REPORT.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md"]  # no temporary left
    write_report(base, [entry("a.tflite", {"Set5": 0.1})], "second")  # overwrite: the default
    assert "Made by `second`" in (tmp_path / "REPORT.md").read_text()


def test_each_dataset_shows_its_worst_image_beside_the_mean():
    rows = [
        entry("x2_int8.tflite", {"Set5": 0.031, "Set14": 0.038},
              {"Set5": ("img_002", 0.0619), "Set14": ("img_013", 0.5805)}),
        entry("x2_float16.tflite", {"Set5": 0.0, "Set14": 0.0},
              {"Set5": ("img_001", 0.0003), "Set14": ("a|b", -0.0001)}),
    ]  # fmt: skip
    lines = report_markdown(rows).splitlines()
    assert "| +0.0310 | img_002 +0.0619 | 30.00 / 0.9000 | +0.0380 | img_013 +0.5805 |" in lines[2]
    assert "| img_001 +0.0003 |" in lines[3] and "| a\\|b -0.0001 |" in lines[3]
    assert worst_cell({"drop": 0.1}) == "-" and worst_cell({"worst_image": "x"}) == "-"


def test_the_worst_images_are_read_back_from_the_json(tmp_path):
    rows = [
        entry("x2_int8.tflite", {"Set14": 0.038, "stress": 0.44},
              {"Set14": ("img_013", 0.5805), "stress": ("06_line_art", 0.8471)}),
        entry("old.tflite", {"Set5": 0.1}),  # a row from before the worst image was recorded
    ]  # fmt: skip
    base = str(tmp_path / "REPORT")
    write_report(base, rows, "maffsrn-export --stress_set")
    back = read_rows(base + ".json")
    assert worst_images(back) == {
        "x2_int8.tflite": {"Set14": ("img_013", 0.5805), "stress": ("06_line_art", 0.8471)},
        "old.tflite": {},
    }
    text = (tmp_path / "REPORT.md").read_text()
    assert "stress PSNR / SSIM | drop (dB) | worst image, drop (dB)" in text
    assert "*worst image* the one image that drops the most" in text
