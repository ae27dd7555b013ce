"""The export report as a library: its accuracy columns are the validation datasets' names,
an existing report to merge into is checked, and ``overwrite=False`` leaves an existing file
alone (plain Python: no model is converted)."""

import json

import pytest

from maffsrn_tf.export.recipe import dataset_name
from maffsrn_tf.export.report import read_rows, report_markdown, write_report
from maffsrn_tf.io.atomic import OutputExists


def entry(name, accuracy):
    io = {"name": "lr", "dtype": "float32", "shape_signature": [1, -1, -1, 3]}
    return {
        "file": name, "scale": 2, "quantization": "float16", "input_shape": None,
        "bytes": 1024, "latency_s": 0.01, "latency_input": [128, 128],
        "accuracy": {k: {"psnr": 30.0, "ssim": 0.9, "drop": d} for k, d in accuracy.items()},
        "io": {"input": io, "output": {**io, "name": "sr"}},
    }  # fmt: skip


def test_the_columns_are_the_datasets_names():
    table = report_markdown([entry("a.tflite", {"Urban100": 0.1, "my|set": 0.2})])
    header, rule, row = table.splitlines()
    assert "| Urban100 PSNR / SSIM | drop (dB) | my\\|set PSNR / SSIM | drop (dB) |" in header
    assert "Set5" not in table and "Set14" not in table
    cells = lambda line: line.replace("\\|", "").count("|")  # noqa: E731 (an escaped | is text)
    assert cells(header) == cells(rule) == cells(row) == 11
    assert "| 30.00 / 0.9000 | +0.1000 | 30.00 / 0.9000 | +0.2000 |" in row


def test_a_file_not_verified_on_a_dataset_shows_a_dash_and_no_datasets_no_columns():
    table = report_markdown([entry("a.tflite", {"Set5": 0.1}), entry("b.tflite", {"B100": 0.3})])
    lines = table.splitlines()
    assert "| Set5 PSNR / SSIM | drop (dB) | B100 PSNR / SSIM | drop (dB) |" in lines[0]
    assert "| +0.1000 | - | - |" in lines[2] and "| - | - | 30.00 / 0.9000 | +0.3000 |" in lines[3]
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
