"""``evaluation.evaluate``'s progress: a tqdm bar (rate, ETA) on a terminal, plain lines
(no carriage returns) in a log; the rows and means it returns. (The numbers against the
published tables: tests/imaging/test_metrics.py; the command: tests/cli/test_commands.py.)"""

import io

import numpy as np
import pytest
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.evaluation import evaluate
from maffsrn_tf.evaluation.protocol import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def folder(path, sizes, seed=0):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(path / f"{i}.png")
    return str(path)


@pytest.fixture
def datasets(tmp_path):
    return [
        folder(tmp_path / "one", [(40, 40), (48, 36)]),
        folder(tmp_path / "two", [(36, 44), (40, 40), (44, 44)], seed=1),
    ]


def test_log_gets_one_plain_line_per_image(datasets):
    log = io.StringIO()
    results = evaluate(datasets, 2, progress=log)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.rsplit(" (", 1)[0] for line in lines] == [
        "one (1/2): 0", "one (1/2): 1", "two (2/2): 0", "two (2/2): 1", "two (2/2): 2"
    ]  # fmt: skip
    assert all(f"({i}/5 images, " in line for i, line in enumerate(lines, 1))
    assert [results[name]["images"] for name in ("one", "two")] == [2, 3]
    rows = results["two"]["per_image"]
    mean = np.mean([row["bicubic_psnr"] for row in rows])
    assert results["two"]["bicubic"]["psnr"] == pytest.approx(mean)


def test_terminal_gets_one_bar_with_rate_and_eta(datasets):
    screen = Terminal()
    evaluate(datasets, 2, progress=screen)
    text = screen.getvalue()
    assert "\r" in text and "5/5" in text and "image/s" in text, text
    assert "<" in text  # tqdm's elapsed<remaining
    assert "one (1/2): 0" not in text  # no plain lines
    assert text.rstrip().endswith("]") and text.count("\n") <= 1, text  # one bar, left at the end


def test_no_progress_writes_nothing(datasets, capsys):
    evaluate(datasets[:1], 2, progress=False)
    assert capsys.readouterr().err == ""


def test_the_bar_is_closed_when_an_image_fails(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    closed = []
    monkeypatch.setattr(Progress, "close", lambda self: closed.append(self.bar is not None))
    with pytest.raises(MaffsrnError, match="x.png"):
        evaluate([str(bad)], 2, progress=Terminal())
    assert closed == [True]


def test_two_datasets_of_one_name_are_refused_before_any_image(tmp_path, monkeypatch):
    """Results are keyed by the folder's name: two folders named alike (or one listed twice)
    would be one row. Refused before a single image is read."""
    from maffsrn_tf.evaluation import dataset_names

    one = folder(tmp_path / "one", [(40, 40)])
    (tmp_path / "b").mkdir()
    other = folder(tmp_path / "b" / "one", [(40, 40)])
    assert dataset_names([one, str(tmp_path / "b")]) == {one: "one", str(tmp_path / "b"): "b"}
    monkeypatch.setattr(Progress, "__init__", lambda *a: pytest.fail("an image was read"))
    with pytest.raises(MaffsrnError, match=f"two datasets named one: {one} and {other}"):
        evaluate([one, other], 2)
    with pytest.raises(MaffsrnError, match=f"dataset {one}/ is listed twice"):
        evaluate([one, one + "/"], 2)


def test_json_of_identical_images_is_valid_json(tmp_path):
    """An output identical to its HR image has an infinite PSNR: the JSON holds null there
    (``Infinity`` is not JSON), and its meta says why."""
    import json

    from maffsrn_tf.evaluation import write_json
    from maffsrn_tf.evaluation.protocol import NON_FINITE_NOTE

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (32, 32), (100, 150, 200)).save(flat / "f.png")
    results = evaluate([str(flat)], 2, progress=False)
    assert results["flat"]["bicubic"]["psnr"] == float("inf")  # in Python: the number itself

    def refuse(word):
        raise ValueError(word)

    write_json(str(tmp_path / "r.json"), results, {"scale": 2}, per_image=True)
    out = json.loads((tmp_path / "r.json").read_text(), parse_constant=refuse)
    assert out["datasets"]["flat"]["bicubic"] == {"psnr": None, "ssim": 1.0}
    assert out["datasets"]["flat"]["per_image"][0]["bicubic_psnr"] is None
    assert out["meta"] == {"scale": 2, "note": NON_FINITE_NOTE}
    # finite numbers: no note
    plain = evaluate([folder(tmp_path / "noisy", [(40, 40)])], 2, progress=False)
    write_json(str(tmp_path / "p.json"), plain, {"scale": 2})
    assert json.loads((tmp_path / "p.json").read_text())["meta"] == {"scale": 2}


def test_arguments_of_the_wrong_kind_are_named_before_any_image(tmp_path):
    """scale=0 was a ZeroDivisionError, a list for lr_dirs an AttributeError, a string
    engine a TypeError midway, and an lr_dirs key naming no dataset was ignored (the LR made
    by bicubic without a word) (fuzz pass 22); a single folder is a list of one."""
    one = folder(tmp_path / "one", [(40, 40)])
    lr = folder(tmp_path / "lr", [(20, 20)])
    cases = [
        (dict(scale=0), "scale=0 is not one of 2, 3, 4"),
        (dict(scale=1), "scale=1 is not one of 2, 3, 4"),
        (dict(lr_dirs=[lr]), "lr_dirs must be a dict of dataset folder to LR folder, not list"),
        (dict(lr_dirs={"Nope": lr}), "lr_dirs names 'Nope', which is not one of the datasets"),
        (dict(engine="maffsrn_x2"), "engine='maffsrn_x2' is not an engine: make one with"),
        (dict(self_ensemble="no"), "self_ensemble='no' must be True or False"),
    ]
    for kwargs, words in cases:
        with pytest.raises(MaffsrnError) as err:
            evaluate([one], **{"scale": 2, "progress": False, **kwargs})
        assert str(err.value).startswith(words), str(err.value)
    with pytest.raises(MaffsrnError, match=r"^datasets=\[\] must be a folder or a list"):
        evaluate([], 2, progress=False)
    assert evaluate(one, 2, progress=False)["one"]["images"] == 1
    paired = evaluate([one], 2, lr_dirs={one: lr}, progress=False)["one"]["per_image"][0]
    made = evaluate([one], 2, progress=False)["one"]["per_image"][0]
    assert paired["bicubic_psnr"] != made["bicubic_psnr"]  # the LR folder's images were used
