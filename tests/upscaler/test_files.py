"""maffsrn-upscale and upscale(): image kinds, formats, bad input (clear error, exit code,
no damage); tiling itself is test_tiling.py's."""

import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from conftest import photo
from PIL import Image, ImageCms

from maffsrn_tf.io import images
from maffsrn_tf.upscaler import UpscaleError, UpscaleOptions, arrays, upscale, upscale_path

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def test_array_kinds_keep_dtype_and_channels(tiny):
    model, _ = tiny
    rgb = photo()
    out = upscale(rgb, 2, model=model, tile=0)
    assert out.shape == (80, 104, 3) and out.dtype == np.uint8
    gray = upscale(rgb[..., 0], 2, model=model)
    assert gray.shape == (80, 104) and gray.dtype == np.uint8
    rgb16 = rgb.astype(np.uint16) * 257
    out16 = upscale(rgb16, 2, model=model)
    assert out16.dtype == np.uint16 and out16.shape == (80, 104, 3)
    # 16-bit keeps precision: it is the 8-bit result to within the 8-bit quantization step
    assert np.abs(out16.astype(np.int64) // 257 - out.astype(np.int64)).max() <= 1
    alpha = np.zeros((40, 52), np.uint8)
    alpha[10:30, 10:40] = 255
    rgba = upscale(np.dstack([rgb, alpha]), 2, model=model)
    assert rgba.shape == (80, 104, 4)
    want = np.asarray(
        Image.fromarray(alpha.astype(np.float32), "F").resize((104, 80), Image.BICUBIC)
    )
    np.testing.assert_array_equal(rgba[..., 3], np.clip(np.round(want), 0, 255))
    # the colour under fully transparent pixels is filled from the visible ones first
    filled = upscale(arrays._fill_transparent(rgb, alpha), 2, model=model)
    np.testing.assert_array_equal(rgba[..., :3], filled)


def test_pil_in_pil_out_palette_and_tiny_images(tiny):
    model, _ = tiny
    pal = Image.fromarray(photo()).convert("P", palette=Image.ADAPTIVE)
    out = upscale(pal, 2, model=model)
    assert isinstance(out, Image.Image) and out.size == (104, 80) and out.mode == "RGB"
    small = upscale(photo(6, 9), 2, model=model)  # below the 13-pixel minimum: padded
    assert small.shape == (12, 18, 3)


def test_backend_choice():
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine

    with pytest.raises(ValueError, match="is a TFLite model: use backend='tflite'"):
        make_engine(UpscaleOptions(model="m.tflite", runtime="keras"))
    with pytest.raises(ValueError, match="backend='tflite' runs .tflite files"):
        make_engine(UpscaleOptions(model="m.weights.h5", runtime="tflite"))
    with pytest.raises(ValueError, match="quantization='int4' is not one of"):
        UpscaleOptions(variant="int4")
    with pytest.raises(ValueError, match="backend='onnx' is not one of"):
        UpscaleOptions(runtime="onnx")


def write(path, array, **kwargs):
    Image.fromarray(array).save(path, **kwargs)
    return str(path)


def test_files_formats(tiny, tmp_path):
    _, model = tiny
    out = tmp_path / "out"
    out.mkdir()
    # CMYK JPEG with an ICC profile -> RGB
    cmyk = Image.fromarray(photo()).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.jpg")
    # EXIF orientation 6 (rotate 90 CW) -> applied
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo(40, 52)).save(tmp_path / "rot.jpg", exif=exif)
    # RGB with an ICC profile -> kept
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    write(tmp_path / "icc.png", photo(), icc_profile=icc)
    # 16-bit grayscale (Pillow) and 16-bit RGB (pypng)
    Image.fromarray(photo()[..., 0].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    import png

    rgb16 = photo().astype(np.uint16) * 257
    with open(tmp_path / "c16.png", "wb") as f:
        png.Writer(52, 40, greyscale=False, bitdepth=16).write(f, rgb16.reshape(40, -1).tolist())
    written = upscale_path(str(tmp_path), str(out), 2, model=model, compare=True)
    assert len(written) == 10
    cm = Image.open(out / "cmyk_x2.jpg")
    assert cm.mode == "RGB" and cm.size == (104, 80)
    assert Image.open(out / "rot_x2.jpg").size == (80, 104)  # rotated, then doubled
    assert Image.open(out / "icc_x2.png").info.get("icc_profile") == icc
    g16 = Image.open(out / "g16_x2.png")
    assert g16.mode.startswith("I") and np.asarray(g16).max() > 255
    c16, _ = images.read_image(str(out / "c16_x2.png"))
    assert c16.dtype == np.uint16 and c16.shape == (80, 104, 3) and c16.max() > 255
    compare = Image.open(out / "icc_x2_compare.png")
    assert compare.size == (104 * 2 + 8, 80)


def bomb_png(path, side=30000):
    """A PNG header declaring side x side pixels (refused before any decoding)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return str(path)


def test_bad_input_errors_and_no_damage(tiny, tmp_path):
    _, model = tiny
    good = write(tmp_path / "good.png", photo())
    (tmp_path / "notes.png").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(photo(200, 200)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    bomb = bomb_png(tmp_path / "bomb.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    before = sorted(os.listdir(tmp_path))
    cases = [
        (dict(input_path=str(tmp_path / "missing.png"), output=None), "input not found"),
        (
            dict(input_path=str(tmp_path / "notes.png"), output=str(tmp_path / "o.png")),
            "cannot read",
        ),
        (dict(input_path=str(tmp_path / "cut.png"), output=str(tmp_path / "o.png")), "cut short"),
        (dict(input_path=bomb, output=str(tmp_path / "o.png")), "refusing"),
        (dict(input_path=good, output=good), "is the input"),
        (dict(input_path=good, output=str(tmp_path / "notes.png" / "o.png")), "is a file"),
    ]
    # root may write into a 0500 folder; no one can create files in /proc
    unwritable = locked if os.geteuid() != 0 else "/proc"
    cases.append((dict(input_path=good, output=os.path.join(unwritable, "o.png")), "not writable"))
    for kwargs, message in cases:
        with pytest.raises(UpscaleError, match=message):
            upscale_path(scale=2, model=model, **kwargs)
    with pytest.raises(UpscaleError, match="scale=5 is not one of 2, 3, 4"):
        upscale_path(good, str(tmp_path / "o.png"), 5, model=model)
    assert sorted(os.listdir(locked)) == []
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, nothing damaged
    assert Image.open(good).size == (52, 40)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "missing.png"], "input not found"),
        (["--scale", "5"], "--scale must be 2, 3 or 4"),
    ],
)
def test_cli_bad_input_one_line_and_exit_code(tmp_path, tiny, args, message):
    _, model = tiny
    proc = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.upscale", "--model", model, *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_cli_folder_with_progress(tmp_path, tiny):
    _, model = tiny
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        write(src / f"{i}.png", photo(seed=i))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "maffsrn_tf.cli.upscale",
            "--model",
            model,
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[2/2] 1.png" in proc.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["0_x2.png", "1_x2.png"]


def test_16bit_gray_alpha_png_and_output_formats(tiny, tmp_path):
    """16-bit grey+alpha PNG (once a pypng traceback) upscales; --format and --quality."""
    import png

    _, model = tiny
    la16 = np.dstack([photo()[..., 0], np.full((40, 52), 200, np.uint8)]).astype(np.uint16) * 257
    with open(tmp_path / "la16.png", "wb") as f:
        png.Writer(52, 40, greyscale=True, alpha=True, bitdepth=16).write(
            f, la16.reshape(40, -1).tolist()
        )
    out = tmp_path / "out"
    out.mkdir()
    (written,) = upscale_path(str(tmp_path / "la16.png"), str(out) + os.sep, 2, model=model)
    back, _ = images.read_image(written)
    assert written.endswith("la16_x2.png")
    assert back.dtype == np.uint16 and back.shape == (80, 104, 2) and back[..., 1].min() > 255
    for fmt, quality in (("jpg", 60), ("webp", 70), ("png", None)):
        (path,) = upscale_path(
            str(tmp_path / "la16.png"),
            str(out) + os.sep,
            2,
            model=model,
            fmt=fmt,
            quality=quality,
            overwrite=True,
        )
        assert path.endswith(f"la16_x2.{fmt}")
        assert Image.open(path).format == {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}[fmt]
    small = os.path.getsize(out / "la16_x2.jpg")
    upscale_path(str(tmp_path / "la16.png"), str(out / "hq.jpg"), 2, model=model, quality=100)
    assert os.path.getsize(out / "hq.jpg") > small  # quality is applied
    with pytest.raises(UpscaleError, match="does not end in .webp"):
        upscale_path(str(tmp_path / "la16.png"), str(out / "x.png"), 2, model=model, fmt="webp")
    with pytest.raises(UpscaleError, match="quality=0 is not in 1..100"):
        upscale_path(str(tmp_path / "la16.png"), "", 2, model=model, quality=0)


def test_encoder_error_is_one_line(tiny, tmp_path, monkeypatch):
    _, model = tiny
    write(tmp_path / "a.png", photo())

    def broken(*args, **kwargs):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(Image.Image, "save", broken)  # Pillow's encoders and ours
    monkeypatch.setattr(images, "encode_png", broken)
    with pytest.raises(UpscaleError, match=r"cannot write .*a_x2.png \(RuntimeError: encoder"):
        upscale_path(str(tmp_path / "a.png"), str(tmp_path / "a_x2.png"), 2, model=model)
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # nothing half-written


def test_a_picture_with_an_output_s_name_is_an_input_not_an_earlier_output(tmp_path):
    """``y_x2.png`` beside ``y.png`` in a folder written into is taken for an earlier output
    only when it has that output's size: a user's 20x20 picture of that name is upscaled as
    an input, and ``y.png`` fails alone rather than replace it, even with overwrite."""
    folder = tmp_path / "d"
    folder.mkdir()
    write(folder / "y.png", photo(32, 32))
    write(folder / "y_x2.png", photo(20, 20))  # a picture of the user's
    write(folder / "z.png", photo(16, 16))
    images.write_image(str(folder / "z_x2.png"), photo(32, 32))  # z's earlier output
    mine = (folder / "y_x2.png").read_bytes()
    failures = []
    with pytest.raises(UpscaleError, match=r"1 of 3 images failed: y.png") as caught:
        upscale_path(str(folder), str(folder), overwrite=True, quantization="int8",
                     on_error=failures.append)  # fmt: skip
    assert (folder / "y_x2.png").read_bytes() == mine
    assert sorted(caught.value.written) == [str(folder / "y_x2_x2.png"), str(folder / "z_x2.png")]
    assert str(failures[0]) == (
        f"{folder / 'y.png'}: its output would replace {folder / 'y_x2.png'}, an image of 20x20 "
        "that is not its earlier output (64x64): write the outputs elsewhere, or rename that "
        "image"
    )
    assert Image.open(folder / "z_x2.png").size == (32, 32)


def test_overwrite_replaces_only_earlier_outputs_that_carry_our_mark(tmp_path):
    """In a folder upscaled into itself with overwrite, a file with an output's name AND
    size is replaced only when it says maffsrn_tf wrote it (PNG ``tEXt Software``, JPEG's
    comment): a user's picture of that name and size (made by another upscaler, say) is kept
    byte for byte, and its input fails alone, naming it. So is one of a format that carries
    no mark (a WebP: it had been taken for an earlier output and replaced, fuzz pass 21)."""
    folder = tmp_path / "d"
    folder.mkdir()
    write(folder / "a.png", photo(16, 16))
    write(folder / "a_x2.png", photo(32, 32))  # the user's, another program's output
    write(folder / "b.jpg", photo(16, 16))
    mine = (folder / "a_x2.png").read_bytes()
    fast = dict(quantization="int8", overwrite=True)
    earlier = upscale_path(str(folder / "b.jpg"), str(folder / "b_x2.jpg"), **fast)
    assert images.written_here(earlier[0]) is True  # our JPEG says so
    assert images.written_here(str(folder / "a_x2.png")) is False
    failures = []
    with pytest.raises(UpscaleError, match=r"1 of 2 images failed: a.png") as caught:
        upscale_path(str(folder), str(folder), on_error=failures.append, **fast)
    assert (folder / "a_x2.png").read_bytes() == mine
    assert caught.value.written == [str(folder / "b_x2.jpg")]  # ours: rewritten
    assert str(failures[0]) == (
        f"{folder / 'a.png'}: its output would replace {folder / 'a_x2.png'}, which has that "
        "output's name and size but was not written by maffsrn_tf (a picture of yours?): "
        "rename it, or delete it if it is an earlier output"
    )
    (folder / "a_x2.png").unlink()  # now the run writes it, marked, and a rerun replaces it
    upscale_path(str(folder), str(folder), **fast)
    assert images.written_here(str(folder / "a_x2.png")) is True
    assert upscale_path(str(folder), str(folder), **fast) == [
        str(folder / "a_x2.png"), str(folder / "b_x2.jpg")]  # fmt: skip
    webp = tmp_path / "w"
    webp.mkdir()
    write(webp / "p.png", photo(16, 16))
    Image.fromarray(photo(32, 32, seed=3)).save(webp / "p_x2.webp", lossless=True)
    mine = (webp / "p_x2.webp").read_bytes()
    failures = []
    with pytest.raises(UpscaleError, match=r"^1 of 1 images failed: p.png$"):
        upscale_path(str(webp), str(webp), fmt="webp", on_error=failures.append, **fast)
    assert (webp / "p_x2.webp").read_bytes() == mine
    assert str(failures[0]) == (
        f"{webp / 'p.png'}: its output would replace {webp / 'p_x2.webp'}, which has that "
        "output's name and size, in a format that does not say what wrote it (only PNG and "
        "JPEG outputs carry maffsrn_tf's mark): delete it if it is an earlier output, or "
        "rename it"
    )


def test_paths_as_bytes_and_checked_arguments(tmp_path, monkeypatch):
    """Bytes paths (a name that is not UTF-8, as ``os.listdir(b".")`` gives it) work like
    str; ``on_error`` and ``progress`` of the wrong kind are refused before any work; a
    single run that fails removes the folders it made for its output."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.png", photo(24, 24))
    write(tmp_path / "b\udcff.png", photo(24, 24))
    fast = dict(quantization="int8")
    assert upscale_path(b"a.png", b"o/x.png", **fast) == ["o/x.png"]
    assert upscale_path([b"b\xff.png"], "o/", **fast) == ["o/b\udcff_x2.png"]
    assert Image.open(b"o/b\xff_x2.png").size == (48, 48)
    for kwargs, message in (
        (dict(on_error=5), "on_error must be a function of the error, not 5"),
        (dict(progress="yes"), "progress must be True, False or a function, not 'yes'"),
        (dict(input_path=b"a.png", output=3), r"inputs and output are paths"),
    ):
        kwargs = {"input_path": "a.png", "output": "p/", **kwargs}
        with pytest.raises(UpscaleError, match=message):
            upscale_path(**kwargs, **fast)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(UpscaleError, match="cannot read"):
        upscale_path("notes.png", "new/deep/n.png", **fast)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b\udcff.png", "notes.png", "o"]


def test_skip_existing_never_replaces_a_file_that_is_not_an_earlier_output(tmp_path):
    """A file at the output's name that is not this input's earlier output (notes, another
    picture, another size) fails that input alone, single run or folder run; an earlier
    output cut short (the right size in its header) is redone."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write(folder / f"{name}.png", photo(20, 24))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.png").write_text("my notes")
    write(out / "b_x2.png", photo(30, 30))  # a whole picture of another size
    fast = dict(quantization="int8", skip_existing=True)
    mine = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(UpscaleError, match=r"a_x2.png exists and is not an earlier output of "
                       r".*a.png \(not an image Pillow reads\): pass overwrite=True"):  # fmt: skip
        upscale_path(str(folder / "a.png"), str(out) + "/", **fast)
    failures = []
    with pytest.raises(UpscaleError, match="2 of 3 images failed: a.png, b.png"):
        upscale_path(str(folder), str(out), on_error=failures.append, **fast)
    assert "(an image of 30x30, not 48x40)" in str(failures[1])
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in mine} == mine
    assert Image.open(out / "c_x2.png").size == (48, 40)
    whole = (out / "c_x2.png").read_bytes()
    (out / "c_x2.png").write_bytes(whole[: len(whole) // 2])  # cut short: redone
    (out / "a_x2.png").unlink()
    (out / "b_x2.png").unlink()
    assert sorted(upscale_path(str(folder), str(out), **fast)) == [
        str(out / f"{n}_x2.png") for n in "abc"
    ]
    assert (out / "c_x2.png").read_bytes() == whole
    # every pixel there, the file cut before its IEND chunk: not whole (fuzz pass 22)
    (out / "c_x2.png").write_bytes(whole[:-12])
    assert upscale_path(str(folder), str(out), **fast) == [str(out / "c_x2.png")]
    assert (out / "c_x2.png").read_bytes() == whole
    # compare=True: an output without its comparison is not taken as done (it was skipped,
    # the comparison never written), nor replaced (a retouched picture of that size was)
    upscale_path(str(folder / "a.png"), str(out) + "/", compare=True, overwrite=True,
                 quantization="int8")  # fmt: skip
    (out / "a_x2_compare.png").unlink()
    kept = (out / "a_x2.png").read_bytes()
    with pytest.raises(UpscaleError, match=r"a_x2\.png exists without its comparison: pass "
                       r"overwrite=True to write both again, or leave out compare$"):  # fmt: skip
        upscale_path(str(folder / "a.png"), str(out) + "/", compare=True, **fast)
    assert (out / "a_x2.png").read_bytes() == kept and not (out / "a_x2_compare.png").exists()


def test_links_that_lead_nowhere_are_named_and_a_tree_too_deep_to_read_is_refused(tmp_path, caplog):
    """A link loop or a broken link is said as one (not "input not found", nor "not an
    image"); a folder deeper than the system's path limit is refused before any work (its
    images were skipped as "not images", with exit 0)."""
    import logging

    (tmp_path / "src").mkdir()
    write(tmp_path / "src" / "a.png", photo(20, 24))
    os.symlink("l2", tmp_path / "src" / "l1")  # names of no image: skipped, and said
    os.symlink("l1", tmp_path / "src" / "l2")
    os.symlink("nowhere", tmp_path / "src" / "d")
    os.symlink(".", tmp_path / "src" / "here")  # a folder walked already: once
    fast, errors = {"quantization": "int8"}, []
    with pytest.raises(UpscaleError, match=r"^input cannot be opened: .*/l1 is a link loop$"):
        upscale_path(str(tmp_path / "src" / "l1"), str(tmp_path / "x.png"), **fast)
    with pytest.raises(UpscaleError, match=r"/d is a broken link to nowhere$"):
        upscale_path(str(tmp_path / "src" / "d"), str(tmp_path / "x.png"), **fast)
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        got = upscale_path(str(tmp_path / "src"), str(tmp_path / "o"), recursive=True, **fast)
    assert got == [str(tmp_path / "o" / "a_x2.png")]
    src = tmp_path / "src"
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping 3 entries that cannot be opened: {src / 'd'} (a broken link to "
        f"nowhere), {src / 'l1'} (a link loop), {src / 'l2'} (a link loop)"
    ]
    os.symlink("loop.png", tmp_path / "src" / "loop.png")  # an image's name: it fails alone
    with pytest.raises(UpscaleError, match=r"^1 of 2 images failed: loop\.png"):
        upscale_path(str(tmp_path / "src"), str(tmp_path / "o1"), on_error=errors.append, **fast)
    assert [str(e) for e in errors] == [
        f"input cannot be opened: {src / 'loop.png'} is a link loop"
    ]
    assert os.listdir(tmp_path / "o1") == ["a_x2.png"]
    os.unlink(tmp_path / "src" / "loop.png")
    fd = os.open(tmp_path / "src", os.O_RDONLY)  # src/d.../d.../b.png, past PATH_MAX
    for _ in range(22):
        os.mkdir("d" * 200, dir_fd=fd)
        fd, old = os.open("d" * 200, os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(os.open("b.png", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    with pytest.raises(UpscaleError, match=r"^cannot read .*/src/ddd.*\.\.\.ddd+: its path is "
                       r"longer than the system allows; upscale the folder that holds it on "
                       r"its own$"):  # fmt: skip
        upscale_path(str(tmp_path / "src"), str(tmp_path / "o2"), recursive=True, **fast)
    assert not (tmp_path / "o2").exists()


def test_a_file_given_twice_by_two_names_is_done_once_and_said(tmp_path, caplog):
    """``a.png`` and a link to it, or ``a.png`` twice: one output, and a notice naming the
    second mention (every word is used); a comparison whose name would be too long is
    refused before any work."""
    import logging

    write(tmp_path / "a.png", photo(20, 24))
    os.symlink("a.png", tmp_path / "z.png")
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        got = upscale_path([str(tmp_path / "a.png"), str(tmp_path / "z.png")],
                           str(tmp_path / "o") + "/", quantization="int8")  # fmt: skip
    assert got == [str(tmp_path / "o" / "a_x2.png")]
    assert [r.getMessage() for r in caplog.records] == [
        f"upscaling once each file given twice: {tmp_path / 'z.png'} (the same file as "
        f"{tmp_path / 'a.png'})"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):  # the same name twice: said too
        got = upscale_path([str(tmp_path / "a.png"), str(tmp_path / "a.png")],
                           str(tmp_path / "o2") + "/", quantization="int8")  # fmt: skip
    assert got == [str(tmp_path / "o2" / "a_x2.png")]
    assert [r.getMessage() for r in caplog.records] == [
        f"upscaling once each file given twice: {tmp_path / 'a.png'}"
    ]
    long = tmp_path / ("m" * 245 + ".png")
    write(long, photo(20, 24))
    with pytest.raises(UpscaleError, match="_x2_compare.png: its name is 260 bytes, longer than"):
        upscale_path(str(long), str(tmp_path / "p") + "/", compare=True, quantization="int8")
    assert not (tmp_path / "p").exists()


def test_earlier_outputs_are_told_by_their_size_and_broken_links_fail_alone(tmp_path):
    """``logo_x3.png`` beside ``logo.png`` is an earlier output only at three times its
    sides (else a picture of the user's: upscaled); a cut-short output is redone but a file
    at its comparison's name is not replaced; a broken link at an output name fails that
    input alone."""
    g = tmp_path / "g"
    g.mkdir()
    write(g / "logo.png", photo(20, 24))
    write(g / "logo_x3.png", photo(60, 72))  # an earlier x3 output: its size
    write(g / "logo_512x512.png", photo(32, 32))  # a picture with such a name
    got = upscale_path(str(g), str(g), quantization="int8")
    assert sorted(os.path.basename(p) for p in got) == ["logo_512x512_x2.png", "logo_x2.png"]
    out = tmp_path / "o"
    write(tmp_path / "a.png", photo(20, 24))
    upscale_path(str(tmp_path / "a.png"), str(out) + "/", quantization="int8")
    whole = (out / "a_x2.png").read_bytes()
    (out / "a_x2.png").write_bytes(whole[:2000])  # cut short: would be redone
    (out / "a_x2_compare.png").write_text("my notes")
    with pytest.raises(UpscaleError, match="output exists: .*a_x2_compare.png"):
        upscale_path([str(tmp_path / "a.png"), str(g / "logo.png")], str(out),
                     skip_existing=True, compare=True, quantization="int8")  # fmt: skip
    assert (out / "a_x2_compare.png").read_text() == "my notes"
    os.symlink("nowhere", out / "b_x2.png")
    write(tmp_path / "b.png", photo(20, 24))
    failures = []
    with pytest.raises(UpscaleError, match="1 of 2 images failed: .*b.png"):
        upscale_path([str(tmp_path / "a.png"), str(tmp_path / "b.png")], str(out),
                     skip_existing=True, quantization="int8", on_error=failures.append)  # fmt: skip
    broken = (
        f"output {out / 'b_x2.png'} is a broken or looping link: remove it, or pass "
        "overwrite=True to replace it"
    )
    assert str(failures[0]) == broken
    assert os.readlink(out / "b_x2.png") == "nowhere"
    # without skip_existing, a folder run and a one-file run say the same before any work
    # (they had said the output "was written by another run meanwhile", after the work)
    for inputs, output in (([str(tmp_path / "b.png"), str(tmp_path / "a.png")], str(out)),
                           ([str(tmp_path / "b.png")], str(out / "b_x2.png"))):  # fmt: skip
        with pytest.raises(UpscaleError) as info:
            upscale_path(inputs, output, overwrite=False, quantization="int8")
        assert str(info.value) == broken
    os.symlink("loop.png", out / "loop.png")
    with pytest.raises(UpscaleError, match=r"loop\.png is a broken or looping link: remove it"):
        upscale_path([str(tmp_path / "b.png")], str(out / "loop.png"), quantization="int8")
    assert os.readlink(out / "b_x2.png") == "nowhere"


def test_an_output_through_a_link_and_dotdot_and_an_empty_input_are_refused(tmp_path, monkeypatch):
    """``lnk/../y.png``: the system writes beside the link's target, the name reads as
    ``./y.png`` (a user's file there); refused before any work. An empty path in a list of
    inputs is named as such, and so is an empty output (None is ./out)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "in.png", photo(20, 24))
    (tmp_path / "real" / "sub").mkdir(parents=True)
    os.symlink("real/sub", tmp_path / "lnk")
    (tmp_path / "y.png").write_text("mine")
    with pytest.raises(UpscaleError, match=r"'\.\.' after the link lnk names another folder"):
        upscale_path("in.png", "lnk/../y.png", quantization="int8")
    with pytest.raises(UpscaleError, match="^input 2 of 2 is an empty path$"):
        upscale_path(["in.png", ""], "o/", quantization="int8")
    with pytest.raises(UpscaleError, match=r"^output is an empty path: name a file or fold"):
        upscale_path("in.png", "", quantization="int8")  # an unset variable is not ./out
    with pytest.raises(UpscaleError, match=r"^output is an empty path"):
        upscale_path(None, b"", quantization="int8")
    assert sorted(os.listdir(tmp_path)) == ["in.png", "lnk", "real", "y.png"]
    assert os.listdir(tmp_path / "real") == ["sub"] and (tmp_path / "y.png").read_text() == "mine"


def test_the_sample_run_rewrites_only_its_own_earlier_output(tmp_path, monkeypatch):
    """No inputs: the sample photo into ``out/``, rewritten at each run; a file of the
    user's there (their own ``sample.png`` upscaled, a text file, a picture of that size
    another program saved) is refused as any existing output, not replaced."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("out")
    (tmp_path / "out" / "sample_x2.png").write_text("my notes")
    with pytest.raises(UpscaleError, match=r"^output exists: out/sample_x2\.png \(pass "):
        upscale_path(None, None, quantization="int8")
    assert (tmp_path / "out" / "sample_x2.png").read_text() == "my notes"
    write(tmp_path / "out" / "sample_x2.png", photo(40, 48))  # an image of another size
    with pytest.raises(UpscaleError, match=r"^output exists: out/sample_x2\.png"):
        upscale_path(None, None, quantization="int8")
    os.unlink(tmp_path / "out" / "sample_x2.png")
    assert upscale_path(None, None, quantization="int8") == [os.path.join("out", "sample_x2.png")]
    assert upscale_path(None, None, quantization="int8") == [os.path.join("out", "sample_x2.png")]
    assert Image.open(tmp_path / "out" / "sample_x2.png").size == (1024, 1200)
    # the size it writes, but saved by another program (no maffsrn_tf mark): the user's
    with Image.open(tmp_path / "out" / "sample_x2.png") as im:
        Image.fromarray(np.asarray(im)).save(tmp_path / "out" / "sample_x2.png")
    mine = (tmp_path / "out" / "sample_x2.png").read_bytes()
    with pytest.raises(UpscaleError, match=r"^output exists: out/sample_x2\.png"):
        upscale_path(None, None, quantization="int8")
    assert (tmp_path / "out" / "sample_x2.png").read_bytes() == mine
    # the comparison is the user's (saved by another program): named, not the output
    os.unlink(tmp_path / "out" / "sample_x2.png")
    upscale_path(None, None, quantization="int8", compare=True)
    with Image.open(tmp_path / "out" / "sample_x2_compare.png") as im:
        Image.fromarray(np.asarray(im)).save(tmp_path / "out" / "sample_x2_compare.png")
    with pytest.raises(UpscaleError, match=r"^output exists: out/sample_x2_compare\.png \("):
        upscale_path(None, None, quantization="int8", compare=True)


def test_an_output_file_where_another_output_needs_a_folder_is_refused_first(tmp_path):
    """``a.png`` and ``a_x2.png/z.png`` with ``recursive``: ``a``'s output is the folder
    ``z``'s output goes into. It was found once ``a_x2.png`` was written."""
    (tmp_path / "in" / "a_x2.png").mkdir(parents=True)
    write(tmp_path / "in" / "a.png", photo(20, 24))
    write(tmp_path / "in" / "a_x2.png" / "z.png", photo(20, 24))
    with pytest.raises(UpscaleError, match=r"^the output of a\.png would be written to "
                       r".*o/a_x2\.png, the folder a_x2\.png/z\.png's output goes into; "
                       r"rename one"):  # fmt: skip
        upscale_path(str(tmp_path / "in"), str(tmp_path / "o"), recursive=True,
                     quantization="int8")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_a_file_named_after_its_folder_is_an_input_in_any_order(tmp_path):
    """``upscale d5 d5/a_x2.png -o d5 --overwrite``: the named file was dropped as the
    folder's earlier output, then replaced by ``a.png``'s. Named, it is an input: refused
    whatever the order of the words."""
    (tmp_path / "d5").mkdir()
    write(tmp_path / "d5" / "a.png", photo(20, 24))
    write(tmp_path / "d5" / "a_x2.png", photo(40, 48))  # the size a_x2 has: "earlier"
    mine = (tmp_path / "d5" / "a_x2.png").read_bytes()
    folder, named = str(tmp_path / "d5"), str(tmp_path / "d5" / "a_x2.png")
    for inputs in ([folder, named], [named, folder]):
        with pytest.raises(UpscaleError, match=r"would replace the input .*a_x2\.png"):
            upscale_path(inputs, folder, overwrite=True, quantization="int8")
    assert (tmp_path / "d5" / "a_x2.png").read_bytes() == mine


def test_a_16_bit_image_written_as_8_bit_is_said_once(tmp_path, caplog):
    """A 16-bit PNG asked for as JPEG or WebP had lost its low bits without a word (an image
    with transparency flattened for JPEG is said): once per run and extension; PNG keeps
    the 16 bits and says nothing."""
    import logging

    deep = (photo(20, 24).astype(np.uint16) * 257) + 3
    for name in ("a.png", "b.png"):
        images.write_image(str(tmp_path / name), deep)
    inputs = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    for fmt in ("jpg", "webp", "png"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, "maffsrn_tf"):
            upscale_path(inputs, str(tmp_path / fmt) + "/", fmt=fmt, quantization="int8")
        said = [m for m in caplog.messages if "8 bits" in m]
        if fmt == "png":
            assert (
                said == []
                and images.read_image(str(tmp_path / "png/a_x2.png"))[0].dtype == np.uint16
            )
        else:
            assert said == [f".{fmt} holds 8 bits a sample: 16-bit images are written as 8-bit "
                            "(.png keeps 16)"]  # fmt: skip


def test_a_macs_resource_forks_are_skipped_with_one_warning(tmp_path, caplog):
    """A folder copied from a Mac holds ._NAME.JPG files (AppleDouble resource forks): the
    whole run had failed on them ("1 of 3 images failed"); they are skipped, said once."""
    import logging

    folder = tmp_path / "photos"
    folder.mkdir()
    write(folder / "a.png", photo(20, 24))
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80)
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        written = upscale_path(str(folder), str(tmp_path / "out") + "/", quantization="int8")
    assert [os.path.basename(p) for p in written] == ["a_x2.png"]
    assert (
        caplog.messages.count(
            f"skipping 1 macOS metadata file (._NAME, e.g. {folder / '._a.png'}: a copy's resource "
            "fork, not a picture)"
        )
        == 1
    )


def test_an_output_in_the_package_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    """``-o .../maffsrn_tf/samples/grace_hopper.jpg --overwrite`` replaced the sample photo
    that a run without input upscales (fuzz pass 21); a folder there, or the default
    ``out`` from inside the package, is refused too. Nothing is written."""
    from maffsrn_tf.io.paths import PACKAGE_DIR
    from maffsrn_tf.model.shipped import sample_photo_path

    sample = sample_photo_path()
    before = open(sample, "rb").read()
    write(tmp_path / "a.png", photo(16, 16))
    for source, output in ((str(tmp_path / "a.png"), sample), (str(tmp_path), PACKAGE_DIR)):
        with pytest.raises(UpscaleError) as err:
            upscale_path(source, output, overwrite=True, quantization="int8")
        assert str(err.value) == (
            f"output={output!r} lies in the maffsrn_tf package ({PACKAGE_DIR}): its shipped "
            "files are never replaced, even with overwrite=True; write it elsewhere"
        )
    monkeypatch.chdir(os.path.dirname(sample))
    with pytest.raises(UpscaleError, match=r"^output='out' lies in the maffsrn_tf package"):
        upscale_path(str(tmp_path / "a.png"), None, quantization="int8")
    assert open(sample, "rb").read() == before
    assert not os.path.exists(os.path.join(os.path.dirname(sample), "out"))


def test_a_tile_a_fixed_shape_model_cannot_take_is_refused_once_before_any_image(tmp_path):
    """A 128-pixel model with tile=256 failed each image of a folder with the same line
    (fuzz pass 21); it is one refusal before any work, nothing written."""
    from maffsrn_tf.model.shipped import tflite_path

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        write(folder / name, photo(16, 16))
    fixed = os.path.join(os.path.dirname(tflite_path(2)), "maffsrn_x2_float16_128px.tflite")
    failures = []
    with pytest.raises(UpscaleError) as err:
        upscale_path(str(folder), str(tmp_path / "o") + "/", model=fixed, tile=256,
                     on_error=failures.append)  # fmt: skip
    assert str(err.value) == (
        "tile=256: the model is fixed to 128-pixel tiles: pass tile=128, or leave it out"
    )
    assert failures == [] and not (tmp_path / "o").exists()


def test_upscale_files_names_options_of_the_wrong_kind():
    """``upscale_files(inputs, output, None)`` raised AttributeError (fuzz pass 22)."""
    from maffsrn_tf.upscaler import upscale_files

    for options in (None, {"quantization": "int8"}, "int8"):
        with pytest.raises(UpscaleError) as err:
            upscale_files(["a.png"], "o/", options)
        assert str(err.value) == (
            "options must be an UpscaleOptions (UpscaleOptions(scale=2, ...)), not "
            f"{type(options).__name__}; or call upscale_path with keyword arguments"
        )
    with pytest.raises(UpscaleError, match="^video must be a VideoOptions or None, not dict$"):
        upscale_files(["a.png"], "o/", UpscaleOptions(), video={"crf": 20})


def test_what_an_output_format_cannot_hold_is_said_once_a_run(tmp_path, caplog):
    """A PNG with ICC, EXIF, XMP, DPI and text written as BMP lost all but the DPI without a
    word (fuzz pass 22); a JPEG keeps a Comment only. One warning a run and format; a mixed
    run's quality, which the PNG outputs do not take, is said too."""
    from PIL import PngImagePlugin

    folder = tmp_path / "in"
    folder.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "T")
    exif = Image.Exif()
    exif[0x010F] = "Cam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name in ("a.png", "b.png"):
        Image.fromarray(photo(16, 18)).save(folder / name, pnginfo=info, exif=exif, dpi=(300, 300),
                                            icc_profile=icc)  # fmt: skip
    Image.fromarray(photo(16, 18)).save(folder / "c.jpg")
    fast = dict(quantization="int8")
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        upscale_path(str(folder), str(tmp_path / "bmp") + "/", fmt="bmp", **fast)
    assert [r.getMessage() for r in caplog.records] == [
        ".bmp cannot hold the input's ICC profile, EXIF and text: left out (.png keeps them)"
    ]
    assert images.metadata_dropped(".webp", {"dpi": (300, 300), "text": {"Title": "T"}}) == [
        "DPI", "text"]  # fmt: skip
    assert images.metadata_dropped(".jpg", {"text": {"Comment": "c"}}) == []
    assert images.metadata_dropped(".JPG", {"text": {"Title": "T"}}) == [
        "text other than a Comment"
    ]
    assert images.metadata_dropped(".png", {"icc_profile": icc, "text": {"Title": "T"}}) == []
    caplog.clear()
    with caplog.at_level("WARNING", logger="maffsrn_tf"):
        upscale_path(str(folder), str(tmp_path / "q") + "/", quality=50, **fast)
    assert [r.getMessage() for r in caplog.records] == [
        "quality=50 applies to the .jpg outputs of this run only; .png outputs are lossless"
    ]


def test_a_recursive_run_never_writes_into_the_package_through_a_link(tmp_path):
    """With recursive=True, a subfolder of the output that is a link to the package's
    samples/ took outputs there (fuzz pass 24): refused before any work."""
    from maffsrn_tf.io.paths import PACKAGE_DIR
    from maffsrn_tf.model.shipped import sample_photo_path

    samples = os.path.dirname(sample_photo_path())
    before = sorted(os.listdir(samples))
    (tmp_path / "in" / "pk").mkdir(parents=True)
    write(tmp_path / "in" / "pk" / "a.png", photo(16, 16))
    (tmp_path / "out").mkdir()
    os.symlink(samples, tmp_path / "out" / "pk")
    with pytest.raises(UpscaleError) as err:
        upscale_path(str(tmp_path / "in"), str(tmp_path / "out"), recursive=True,
                     quantization="int8")  # fmt: skip
    assert str(err.value) == (
        f"output {tmp_path / 'out' / 'pk' / 'a_x2.png'} lies in the maffsrn_tf package "
        f"({PACKAGE_DIR}) (through a link in the output folder?): its shipped files are never "
        "replaced, even with overwrite=True; write it elsewhere"
    )
    assert sorted(os.listdir(samples)) == before
