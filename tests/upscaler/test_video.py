"""Videos (``upscaler.video``): frames upscaled as images are, with the time stamps, frame
rate, rotation, pixel aspect and audio of the input kept; lossless output equal to
``upscale()`` frame by frame; clear errors and no partial output.

The clips are made here: a pan across the sample photo (natural colours and detail) in FFV1
in Matroska (lossless: a frame decodes to what was written), 48x40, 24000/1001 frames/s with
a gap of three frames in the middle (a variable frame rate), shown turned by 90 degrees,
with an AAC sine tone; and H.264 in MP4 with pixels 4:3 wide (PyAV writes no pixel aspect
into Matroska)."""

import fractions
import logging
import os

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from maffsrn_tf.errors import MaffsrnError  # noqa: E402
from maffsrn_tf.model.shipped import sample_photo_path  # noqa: E402
from maffsrn_tf.upscaler import (  # noqa: E402
    UpscaleError,
    VideoOptions,
    upscale,
    upscale_path,
    upscale_video,
)
from maffsrn_tf.upscaler.video import is_video, probe  # noqa: E402

RATE = fractions.Fraction(24000, 1001)
FAST = {"quantization": "int8"}  # the shipped int8 model: the fastest, as docs/video.md says


def make_clip(path, frames=12, width=48, height=40, rate=RATE, gap=3, rotate=90, sar=None,
              audio="aac", codec="ffv1", pix_fmt="yuv420p"):  # fmt: skip
    """A short clip at ``path``: a pan across the sample photo whose time stamps jump by
    ``gap`` frames halfway, a display rotation, a pixel aspect and a 440 Hz tone."""
    with Image.open(sample_photo_path()) as im:
        scene = np.asarray(im.convert("RGB").resize((128, 150), Image.LANCZOS))
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = 1 / rate
        if sar:
            video.codec_context.sample_aspect_ratio = sar
        if rotate:
            video.set_display_rotation(rotate)
        sound = out.add_stream(audio, rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            y, x = 40 + 2 * (i % 16), 30 + 3 * (i % 16)  # back and forth on a long clip
            view = scene[y : y + height, x : x + width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(view), format="rgb24")
            frame.pts = i + (gap if i >= frames // 2 else 0)
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = int(48000 * (frames + gap) / rate)
            tone = np.sin(2 * np.pi * 440 * np.arange(samples) / 48000).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024] * 0.3, format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 48000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return str(path)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mkv")


def frames(path):
    """``(times, rgb arrays)`` of a video's frames as PyAV decodes them (its defaults)."""
    with av.open(path) as container:
        decoded = list(container.decode(video=0))
        return [f.time for f in decoded], [f.to_ndarray(format="rgb24") for f in decoded]


def audio_packets(path):
    with av.open(path) as container:
        stream = container.streams.audio[0]
        return [(bytes(p), p.pts * p.time_base) for p in container.demux(stream) if p.size]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_h264_keeps_timing_rotation_pixel_aspect_and_audio(clip, tmp_path):
    out = upscale_video(clip, tmp_path / "clip_x2.mkv", **FAST)
    assert out == str(tmp_path / "clip_x2.mkv")
    with av.open(out) as container, av.open(clip) as source:
        video, original = container.streams.video[0], source.streams.video[0]
        assert video.codec_context.name == "h264" and video.format.name == "yuv420p"
        assert (video.width, video.height) == (96, 80)
        assert video.average_rate == original.average_rate == RATE
        first = next(container.decode(video))
        assert first.rotation == 90
    times, got = frames(out)
    source_times, source_frames = frames(clip)
    assert len(got) == 12 and times == source_times  # the gap of 3 frames included
    assert times[6] - times[5] > 3 / RATE
    assert audio_packets(out) == audio_packets(clip)  # copied: bit for bit
    # H.264 at CRF 18 against upscale() of each decoded frame: 33.2-35.8 dB measured (4:2:0
    # alone costs 37-40 dB at this tiny size; another frame of the clip scores 10 dB)
    scores = [psnr(upscale(f, **FAST), g) for f, g in zip(source_frames, got)]
    assert min(scores) > 31, scores


def test_lossless_ffv1_is_upscale_of_each_frame_exactly(clip, tmp_path):
    out = upscale_video(clip, tmp_path / "clip_x2.mkv", codec="ffv1")  # float16: the default
    with av.open(out) as container:
        assert container.streams.video[0].format.name == "bgr0"  # the model's RGB, as it is
    times, got = frames(out)
    source_times, source_frames = frames(clip)
    assert times == source_times and len(got) == 12
    for frame, result in zip(source_frames, got):
        np.testing.assert_array_equal(result, upscale(frame))
    # in YUV 4:4:4 the colour matrix and range are all that differ: converted and tagged
    # alike (52.1 dB measured; a matrix tagged otherwise than it was converted scores ~30)
    yuv = upscale_video(clip, tmp_path / "yuv.mkv", codec="ffv1", pix_fmt="yuv444p")
    scores = [psnr(upscale(f), g) for f, g in zip(source_frames, frames(yuv)[1])]
    assert min(scores) > 50, scores


def test_mjpeg_keeps_the_colours_both_ways_and_its_quality_to_the_end(clip, tmp_path):
    """The input's samples are read in its range and written in the output's: a limited
    range clip into full-range MJPEG, and that MJPEG (yuvj, full) back into limited H.264,
    keep the lossless pictures' contrast (limited samples read as full had cut it to 0.86,
    219/255). MJPEG writes at a fixed quantizer, not FFmpeg's default 200 kbit/s, whose
    rate control had let the mean error grow from 3.5 to 8.2 levels within these 12 frames."""
    exact = frames(upscale_video(clip, tmp_path / "exact.mkv", codec="ffv1", **FAST))[1]
    mjpeg = upscale_video(clip, tmp_path / "m.mkv", codec="mjpeg", **FAST)
    with av.open(mjpeg) as container:
        assert container.streams.video[0].codec_context.color_range == 2  # full, said
    got = frames(mjpeg)[1]
    contrast = [b.std() / a.std() for a, b in zip(exact, got)]
    assert min(contrast) > 0.97, contrast
    # mean error measured 2.8-3.3 levels on every frame (4:2:0 JPEG of a 96x80 picture)
    errors = [np.abs(a.astype(float) - b).mean() for a, b in zip(exact, got)]
    assert max(errors) < 4, errors
    back = frames(upscale_video(mjpeg, tmp_path / "b.mkv", codec="ffv1", scale=2, **FAST))[1]
    contrast = [b.std() / a.std() for a, b in zip(got, back)]  # the same picture, larger
    assert min(contrast) > 0.97, contrast


def test_mp4_output_with_a_size_box_and_odd_sides(clip, tmp_path, caplog):
    """Into MP4 (another container, time base and muxer), at a box whose odd width 4:2:0
    cannot hold: padded by one column, with one notice; yuv444p keeps the odd size."""
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        out = upscale_video(clip, tmp_path, height=75, **FAST)  # displayed 75 high: stored wide
    assert os.path.basename(out) == "clip_62x75.mkv"  # as shown: 62 wide, 75 high
    notes = [r.getMessage() for r in caplog.records]
    padded = "the 75x62 frames are padded to 76x62 (the last row/column repeated)"
    assert notes == [
        f"{clip}: yuv420p needs even sides: {padded}; pix_fmt='yuv444p' keeps the size"
    ]
    mp4 = upscale_video(clip, tmp_path / "c.mp4", scale=3, pix_fmt="yuv444p", **FAST)
    with av.open(mp4) as container:
        video = container.streams.video[0]
        assert (video.width, video.height, video.format.name) == (144, 120, "yuv444p")
    assert frames(mp4)[0] == frames(clip)[0]
    assert audio_packets(mp4) == audio_packets(clip)
    wide = make_clip(tmp_path / "wide.mp4", codec="libx264", sar=fractions.Fraction(4, 3))
    for name in ("wide_x2.mp4", "wide_x2.mkv"):  # MP4's header; H.264's own in Matroska
        with av.open(upscale_video(wide, tmp_path / name, **FAST)) as container:
            assert container.streams.video[0].sample_aspect_ratio == fractions.Fraction(4, 3)
    # a box is the size shown: 48x40 pixels 4:3 wide show as 64x40; width=128 stores
    # 96x80 (it had stored 128x107, shown 171 wide), and the name says what is shown
    wide = make_clip(tmp_path / "w.mp4", rotate=0, codec="libx264", sar=fractions.Fraction(4, 3))
    boxed = upscale_video(wide, tmp_path, width=128, **FAST)
    assert os.path.basename(boxed) == "w_128x80.mp4"
    with av.open(boxed) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (96, 80)
        assert video.width * video.sample_aspect_ratio == 128
    with pytest.raises(UpscaleError, match=r"width=60 asks for x0\.9375 of a 64x40 frame "
                       r"\(as shown: its pixels are 4:3 wide\)"):  # fmt: skip
        upscale_video(wide, tmp_path / "small.mp4", width=60, **FAST)
    odd = upscale_video(clip, tmp_path / "odd.mkv", width=75, pix_fmt="yuv444p", **FAST)
    with av.open(odd) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (90, 75)  # stored: shown 75 wide


def test_interrupted_leaves_no_partial_output(clip, tmp_path):
    seen = []

    def stop(done, total):
        seen.append((done, total))
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, tmp_path / "x.mkv", progress=stop, **FAST)
    assert seen == [(i, 12) for i in range(1, 6)]
    assert os.listdir(tmp_path) == []  # neither the output nor its temporary


def test_bad_videos_are_one_clear_error_and_write_nothing(clip, tmp_path):
    cut = tmp_path / "cut.mkv"
    data = open(clip, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    sound = make_clip(tmp_path / "sound.mkv", codec="ffv1")
    with av.open(sound) as source, av.open(str(tmp_path / "tone.mp4"), "w") as out:
        copy = out.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.size:
                packet.stream = copy
                out.mux(packet)
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "picture.mp4", "PNG")
    cases = {
        str(tmp_path / "picture.mp4"): r"picture\.mp4 is a PNG image, not a video: give it an "
        "image extension to upscale it as an image",
        str(cut): r"cut\.mkv is cut short: its frames end at 0\.2\d s of 0\.6\d s",
        str(text): r"notes\.mp4 is not a video that can be read \(Invalid data",
        str(tmp_path / "tone.mp4"): r"tone\.mp4 has no video stream \(it holds audio\)",
    }
    for path, message in cases.items():
        with pytest.raises(UpscaleError, match=message):
            upscale_video(path, tmp_path / "o.mkv", **FAST)
    assert not os.path.exists(tmp_path / "o.mkv")


def test_existing_outputs_encoders_and_containers_are_checked_first(clip, tmp_path):
    mine = tmp_path / "clip_x2.mkv"
    mine.write_bytes(b"mine")
    with pytest.raises(UpscaleError, match=r"output exists: .*clip_x2\.mkv \(pass overwrite"):
        upscale_video(clip, tmp_path, **FAST)
    assert mine.read_bytes() == b"mine"
    with pytest.raises(UpscaleError, match=r"is the input"):
        upscale_video(clip, clip, overwrite=True, **FAST)
    with pytest.raises(UpscaleError) as missing:
        upscale_video(clip, tmp_path / "n.mkv", codec="libx266", **FAST)
    message = str(missing.value)
    assert message.startswith("codec='libx266': this PyAV build has no such video encoder")
    assert ", ffv1, " in message and ", libx264, " in message
    with pytest.raises(UpscaleError, match=r"its aac audio cannot go into \.webm as it is"):
        upscale_video(clip, tmp_path / "w.webm", **FAST)
    with pytest.raises(UpscaleError, match=r"ffv1 takes no crf \(it is lossless\)"):
        upscale_video(clip, tmp_path / "f.mkv", codec="ffv1", crf=10)
    with pytest.raises(UpscaleError, match=r"pix_fmt='rgb24' is not one libx264 takes"):
        upscale_video(clip, tmp_path / "p.mkv", pix_fmt="rgb24")
    with pytest.raises(MaffsrnError, match=r"^unknown option 'codecs'; the video options are"):
        VideoOptions.from_keywords(container="mkv", codecs="x")
    assert sorted(os.listdir(tmp_path)) == ["clip_x2.mkv"]


def test_videos_are_found_by_extension_or_by_probing(clip, tmp_path):
    probed = tmp_path / "capture"  # no extension: PyAV opens it as a video
    probed.write_bytes(open(clip, "rb").read())
    (tmp_path / "notes.txt").write_text("hello\n")
    assert is_video(clip) and is_video(str(probed)) and is_video(str(tmp_path / "a.webm"))
    assert not is_video(str(tmp_path / "notes.txt"))
    info = probe(str(probed))
    assert (info.width, info.height, info.frames, info.rotation) == (48, 40, 12, 90)
    assert info.audio == ("aac",) and info.quarter_turn


def test_skip_existing_leaves_a_whole_output_and_redoes_one_cut_short(clip, tmp_path, caplog):
    out = upscale_video(clip, tmp_path, **FAST)
    done = os.stat(out).st_mtime_ns
    assert upscale_video(clip, tmp_path, skip_existing=True, **FAST) is None
    assert os.stat(out).st_mtime_ns == done
    data = open(out, "rb").read()
    open(out, "wb").write(data[: len(data) // 2])  # as another tool killed mid-write leaves it
    with caplog.at_level(logging.WARNING, "maffsrn_tf"):
        assert upscale_video(clip, tmp_path, skip_existing=True, **FAST) == out
    assert any("the existing output is cut short" in r.getMessage() for r in caplog.records)
    assert len(frames(out)[1]) == 12
    shorter = make_clip(tmp_path / "short.mkv", frames=6, width=96, height=80, gap=0)
    os.replace(shorter, out)  # whole, the output's size, fewer frames: someone's, not cut
    with pytest.raises(UpscaleError, match=r"\(a whole video of 6 frames, not 12\): pass"):
        upscale_video(clip, tmp_path, skip_existing=True, **FAST)
    assert len(frames(out)[1]) == 6
    open(out, "w").write("my notes")  # not a video: never replaced without overwrite
    mine = r"is not an earlier output of .*clip\.mkv \(not a video that can be read\): pass"
    with pytest.raises(UpscaleError, match=mine):
        upscale_video(clip, tmp_path, skip_existing=True, **FAST)
    assert open(out).read() == "my notes"


def _cut(path, into, keep):
    """``path``'s first ``keep`` bytes (or ``keep(data)``) at ``into``."""
    data = open(path, "rb").read()
    into.write_bytes(data[: keep(data) if callable(keep) else keep])
    return str(into)


def _last_packet(path, kind="video"):
    with av.open(path) as container:
        stream = getattr(container.streams, kind)[0]
        return max((p.pos, p.size) for p in container.demux(stream) if p.size)


def test_cuts_into_the_last_frames_or_the_audio_are_refused(tmp_path):
    """Cut short where a packet count and a two-frame slack let it through: into the last
    packet (flagged corrupt; frame threading hid the decoder's error), into the last frame
    of FFV1 in Matroska (11 of 12 frames), and an MP4 whose AAC audio is cut with it."""
    ffv1 = make_clip(tmp_path / "f.mkv", gap=0, rotate=0, audio=None)
    pos, size = _last_packet(ffv1)
    cases = {_cut(ffv1, tmp_path / "f_cut.mkv", pos + size // 2): r"f_cut\.mkv is cut short"}
    made = make_clip(tmp_path / "m.mp4", frames=24, gap=0, rotate=0, codec="libx264")
    mp4 = str(tmp_path / "a.mp4")  # the index in front (faststart): a cut file opens
    with av.open(made) as inp, av.open(mp4, "w", options={"movflags": "+faststart"}) as out:
        copies = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.size:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    pos, size = _last_packet(mp4)
    cases[_cut(mp4, tmp_path / "a_cut.mp4", pos + size // 2)] = r"a_cut\.mp4 is cut short"
    for path, message in cases.items():
        with pytest.raises(UpscaleError, match=message):
            probe(path)
    assert probe(ffv1).frames == 12 and probe(mp4).frames == 24  # the whole files pass


def test_a_gap_among_the_last_b_frames_is_whole_and_a_cut_there_is_refused(tmp_path):
    """H.264 with B-frames in Matroska whose time stamps jump by 8 frames at the last frame
    (sent before the B-frames shown ahead of it) is whole and keeps its times; the same
    file cut at any byte from its middle on, packet boundaries after a B-frame included,
    is refused as cut short (the hole a cut leaves among B-frames looks like such a gap:
    the Segment's size tells them apart)."""
    made = make_clip(tmp_path / "v.mkv", frames=24, gap=0, rotate=0, audio=None,
                     codec="libx264")  # fmt: skip
    vfr = str(tmp_path / "vfr.mkv")
    with av.open(made) as inp:
        last = max(p.pts for p in inp.demux(video=0) if p.size)
    with av.open(made) as inp, av.open(vfr, "w") as out:
        copy = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.size:
                if packet.pts == last:  # the last frame, 8 frames late
                    packet.pts += 8 * packet.duration
                packet.stream = copy
                out.mux(packet)
    with av.open(vfr) as container:
        order = [p.pts for p in container.demux(video=0) if p.size]
    assert max(order) != order[-1]  # sent before the B-frames shown ahead of it
    assert probe(vfr).frames == 24
    times, _ = frames(upscale_video(vfr, tmp_path / "out.mkv", **FAST))
    assert times == frames(vfr)[0] and times[-1] - times[-2] > 8 / RATE
    data = open(vfr, "rb").read()
    with av.open(vfr) as container:
        starts = {p.pos for p in container.demux(video=0) if p.size}
    cut = tmp_path / "cut.mkv"
    for keep in sorted(starts | set(range(len(data) // 2, len(data), 97))):
        if keep < len(data) // 2:
            continue
        cut.write_bytes(data[:keep])
        with pytest.raises(UpscaleError, match=r"cut\.mkv is cut short"):
            probe(str(cut))


def test_raw_h264_keeps_its_rate_and_an_edit_list_counts_frames_shown(tmp_path):
    """A raw H.264 stream has no time stamps (FFmpeg guesses 25 frames/s on average): its
    own rate is kept; frames an MP4 edit list drops are neither counted nor redone."""
    raw = str(tmp_path / "raw.h264")
    with av.open(raw, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * i, np.uint8))
            frame.pts, frame.time_base = i, fractions.Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert probe(raw).rate == 10
    got = upscale_video(raw, tmp_path / "raw.mkv", **FAST)
    assert [round(t, 3) for t in frames(got)[0]] == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    edited = str(tmp_path / "edit.mp4")
    with av.open(edited, "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        stream.codec_context.time_base = stream.time_base = fractions.Fraction(1, 1000)
        for pts in (-200, -100, 0, 100, 200):  # the first two before the start: cut off
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 90, np.uint8))
            frame.pts, frame.time_base = pts, fractions.Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert probe(edited).frames == 3
    seen = []
    out = upscale_video(edited, tmp_path, progress=lambda d, t: seen.append((d, t)), **FAST)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    done = os.stat(out).st_mtime_ns
    assert upscale_video(edited, tmp_path, skip_existing=True, **FAST) is None
    assert os.stat(out).st_mtime_ns == done


def tiny(path, frames=3, codec="libx264", pix_fmt="yuv420p", audio=None, rotate=None, fmt=None):
    """A 32x24 clip of ``frames`` random frames (rgba when ``pix_fmt`` has alpha)."""
    rng = np.random.default_rng(0)
    alpha = pix_fmt.startswith("yuva")
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, pix_fmt
        if rotate:
            video.set_display_rotation(rotate)
        sound = out.add_stream(audio, rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            pixels = rng.integers(0, 255, (24, 32, 4 if alpha else 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgba" if alpha else "rgb24")
            frame.pts, frame.time_base = i, fractions.Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            fmt_a = sound.codec_context.format.name
            size = sound.codec_context.frame_size or 1024
            for start in range(0, 48000 * frames // 10 - size + 1, size):  # not past the video
                chunk = av.AudioFrame(format=fmt_a, layout="mono", samples=size)
                for plane in chunk.planes:
                    plane.update(bytes(plane.buffer_size))
                chunk.sample_rate, chunk.pts = 48000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return str(path)


def test_avi_fills_a_gap_with_the_last_frame_so_every_reader_places_the_frames(tmp_path):
    """AVI's time stamps are whole frames: a gap's slots repeat the frame before it. Left
    empty, FFmpeg's AVI reader placed the H.264 frames after the gap three slots late."""
    clip = make_clip(tmp_path / "gap.mkv", rotate=0, audio=None)  # slots 0-5, then 9-14
    slots = {}
    for codec in ("libx264", "mpeg4"):
        out = upscale_video(clip, tmp_path / f"{codec}.avi", codec=codec, **FAST)
        times, got = frames(out)
        slots[codec] = [round(t * RATE) for t in times]
        assert len(got) == 15 and all(psnr(got[5], got[i]) > 30 for i in (6, 7, 8))
        assert psnr(got[5], got[9]) < 20  # the frame after the gap is the next one
    assert slots["mpeg4"] == list(range(15))
    assert slots["libx264"] == list(range(1, 16))  # one late throughout (docs/video.md)
    again = upscale_video(clip, tmp_path / "mpeg4.avi", codec="mpeg4", skip_existing=True,
                          **FAST)  # fmt: skip
    assert again is None  # 15 frames for 12: the gap's copies, a whole earlier output
    far = make_clip(tmp_path / "far.mkv", frames=4, rotate=0, audio=None, gap=24 * 700)
    with pytest.raises(UpscaleError, match=r"far\.mkv: its time stamps jump by 0:11:40 after "
                       r"frame 2; \.avi holds a constant frame rate .*write it as \.mp4 or "
                       r"\.mkv$"):  # fmt: skip
        upscale_video(far, tmp_path / "far.avi", **FAST)  # not 16,800 copies of a frame
    assert not (tmp_path / "far.avi").exists()
    assert len(frames(upscale_video(far, tmp_path / "far.mkv2.mkv", **FAST))[0]) == 4


def test_avi_from_aac_that_starts_before_0_keeps_every_slot_and_the_sync(tmp_path):
    """AAC in MP4 starts 1024 samples before 0 (its priming packet, which players drop):
    into AVI, which cannot start before 0, FFmpeg's shift had moved the video a whole slot
    (slot 1 empty, every frame after it late by 77 ms at 10 frames/s). The priming packet is
    left out: the frames keep their slots and the audio starts at 0, its samples all there."""
    clip = make_clip(tmp_path / "c.mp4", frames=10, rate=fractions.Fraction(10), gap=0,
                     rotate=0, codec="libx264")  # fmt: skip
    with av.open(clip) as container:
        first = next(p for p in container.demux(audio=0) if p.size)
        assert first.pts < 0  # the priming packet
    out = upscale_video(clip, tmp_path / "c.avi", codec="mpeg4", **FAST)
    times, _ = frames(out)
    assert [round(t * 10) for t in times] == list(range(10))
    with av.open(out) as container:
        first = next(p for p in container.demux(audio=0) if p.size)
        assert first.pts == 0
    with av.open(out) as a, av.open(clip) as b:
        assert sum(f.samples for f in a.decode(audio=0)) == sum(
            f.samples for f in b.decode(audio=0))  # fmt: skip


def test_an_avi_with_an_empty_chunk_is_whole_and_one_cut_is_not(tmp_path):
    """FFmpeg writes a skipped slot of AVI as an empty chunk, which its reader does not
    return as a packet: the header's 9 frames for 8 packets is a whole file (it was refused
    as cut short), its slots all there; cut before its last packet, it is refused."""
    path = str(tmp_path / "gap.avi")
    with av.open(path, "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 48, 40, "yuv420p"
        for i, slot in enumerate((0, 1, 2, 4, 5, 6, 7, 8)):  # slot 3 skipped
            frame = av.VideoFrame.from_ndarray(np.full((40, 48, 3), i * 30, np.uint8),
                                               format="rgb24")  # fmt: skip
            frame.pts, frame.time_base = slot, fractions.Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    with av.open(path) as container:
        assert container.streams.video[0].frames == 9
        last = max(p.pos for p in container.demux(video=0) if p.size)
    assert probe(path).frames == 8
    times, _ = frames(upscale_video(path, tmp_path / "o.mkv", **FAST))
    assert [round(t * 10) for t in times] == [0, 1, 2, 4, 5, 6, 7, 8]
    cut = tmp_path / "cut.avi"
    cut.write_bytes(open(path, "rb").read()[:last])
    with pytest.raises(UpscaleError, match=r"cut\.avi is cut short: 8 of its 9 frames"):
        probe(str(cut))


def test_frames_that_avis_rate_cannot_place_are_refused_not_moved(tmp_path):
    """A variable-rate MP4 (frames at 0, 0.1, 0.15, 0.6, 0.65, 2 s; 2.86 frames/s on
    average): at AVI's constant rate the second frame falls in the first one's slot. It
    was moved on to the next free slot, and the frames after it with it (0.15 s showed at
    0.7 s), without a word."""
    path = str(tmp_path / "vfr.mp4")
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"bf": "0"}
        video.codec_context.time_base = fractions.Fraction(1, 1000)
        for i, ms in enumerate([0, 100, 150, 600, 650, 2000]):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), "rgb24")
            frame.pts, frame.time_base = ms, fractions.Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    with pytest.raises(UpscaleError, match=r"vfr\.mp4: frame 2 falls in the slot of the frame "
                       r"before it at \.avi's constant rate of 2\.857 frames/s .*write it as "
                       r"\.mp4 or \.mkv, which keep each frame's time$"):  # fmt: skip
        upscale_video(path, tmp_path / "v.avi", **FAST)
    assert sorted(os.listdir(tmp_path)) == ["vfr.mp4"]
    times, _ = frames(upscale_video(path, tmp_path / "v.mkv", **FAST))
    assert [round(t, 3) for t in times] == [0, 0.1, 0.15, 0.6, 0.65, 2.0]


def test_low_rate_aac_in_matroska_is_whole_not_cut_short(tmp_path):
    """8 kHz AAC's priming packet starts 128 ms before 0, and Matroska's DURATION tag
    counts from it: a whole file was refused as "cut short" (its audio ends at 0.64 s of
    0.77 s)."""
    path = str(tmp_path / "a8k.mkv")
    with av.open(path, "w") as out:
        video = out.add_stream("ffv1", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "bgr0"
        sound = out.add_stream("aac", rate=8000)
        sound.layout = "mono"
        for _ in range(6):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "rgb24")
            out.mux(video.encode(frame.reformat(format="bgr0")))
        out.mux(video.encode())
        for k in range(5):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")  # fmt: skip
            chunk.sample_rate, chunk.pts = 8000, k * 1024
            out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    times, got = frames(upscale_video(path, tmp_path / "x2.mkv", **FAST))
    assert len(got) == 6 and got[0].shape == (96, 128, 3)
    cut = tmp_path / "cut.mkv"  # its last second of audio gone: still refused
    cut.write_bytes(open(path, "rb").read()[:-300])
    with pytest.raises(UpscaleError, match="cut short"):
        upscale_video(str(cut), tmp_path / "c2.mkv", **FAST)


def test_a_turned_video_is_refused_for_avi_and_kept_elsewhere(tmp_path):
    clip = tiny(tmp_path / "rot90.mp4", rotate=90)
    with pytest.raises(UpscaleError, match=r"turned by 90 degrees, which \.avi cannot say"):
        upscale_video(clip, tmp_path / "r.avi", **FAST)
    assert not (tmp_path / "r.avi").exists()
    out = upscale_video(clip, tmp_path / "r.mkv", **FAST)
    with av.open(out) as container:
        assert next(container.decode(video=0)).rotation == 90


def test_vp9_alpha_is_decoded_and_flattened_without_its_tag(tmp_path, caplog):
    clip = tiny(tmp_path / "alpha.webm", codec="libvpx-vp9", pix_fmt="yuva420p")
    with av.open(clip) as container:  # FFmpeg's own vp9 decoder drops the alpha
        assert next(container.decode(video=0)).format.name == "yuv420p"
    assert probe(clip).alpha
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        out = upscale_video(clip, tmp_path / "a.webm", **FAST)
    assert "transparency is flattened onto background" in caplog.text
    with av.open(out) as container:
        tags = {k.lower() for k in container.streams.video[0].metadata}
        assert "alpha_mode" not in tags


def test_a_background_that_changed_no_video_is_said(tmp_path, caplog):
    """``background`` on an opaque video had been taken without a word; on one with
    transparency it is used (flattened onto it), and nothing more is said."""
    opaque = tiny(tmp_path / "opaque.mp4")
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        upscale_path(opaque, str(tmp_path / "o1") + "/", background="red", **FAST)
    assert caplog.messages[-1] == (
        "background=red changed nothing: no image or video of this run has transparency"
    )
    caplog.clear()
    alpha = tiny(tmp_path / "alpha.webm", codec="libvpx-vp9", pix_fmt="yuva420p")
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        upscale_path(alpha, str(tmp_path / "o2") + "/", background="red", **FAST)
    assert "transparency is flattened onto background=red" in caplog.text
    assert "changed nothing" not in caplog.text


def test_chapters_are_kept_and_a_container_without_them_says_so(tmp_path, caplog):
    """A Matroska's chapters had been left out without a word: they are copied where the
    container holds them (.mkv, .mp4) and said lost where it does not (.avi)."""
    rng = np.random.default_rng(0)
    source = str(tmp_path / "chapters.mkv")
    with av.open(source, "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        out.set_chapters([
            {"id": 1, "start": 0, "end": 150, "time_base": fractions.Fraction(1, 1000),
             "metadata": {"title": "Intro"}},
            {"id": 2, "start": 150, "end": 300, "time_base": fractions.Fraction(1, 1000),
             "metadata": {"title": "Main"}},
        ])  # fmt: skip
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (24, 32, 3), np.uint8))
            frame.pts, frame.time_base = i, fractions.Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    for ext in ("mkv", "mp4"):
        result = upscale_video(source, tmp_path / f"out.{ext}", **FAST)
        with av.open(result) as container:
            assert [c["metadata"]["title"] for c in container.chapters()] == ["Intro", "Main"]
    with caplog.at_level(logging.WARNING, logger="maffsrn_tf"):
        upscale_video(source, tmp_path / "out.avi", **FAST)
    assert f"{source}: its 2 chapters are not kept: .avi has no chapters" in caplog.text


def test_a_tile_too_small_for_its_overlap_is_an_upscale_error_before_any_frame(tmp_path):
    clip = tiny(tmp_path / "a.mp4")
    with pytest.raises(UpscaleError, match=r"overlap=8 is not below half of tile=16"):
        upscale_video(clip, tmp_path / "t.mp4", scale=4, tile=16, **FAST)
    assert not (tmp_path / "t.mp4").exists()


@pytest.mark.parametrize(("audio", "ext"), [("libopus", ".mov"), ("flac", ".mov")])
def test_audio_a_container_refuses_only_when_written_is_caught_first(tmp_path, audio, ext):
    clip = tiny(tmp_path / "in.mkv", audio=audio)
    with pytest.raises(UpscaleError, match=rf"audio cannot go into \{ext} as it is"):
        upscale_video(clip, tmp_path / f"x{ext}", **FAST)


def test_codec_messages_mjpeg_gif_keywords_and_progress(tmp_path):
    clip = tiny(tmp_path / "a.mp4")
    out = upscale_video(clip, tmp_path / "m.avi", codec="mjpeg", **FAST)  # full range
    with av.open(out) as container:
        assert len(list(container.decode(video=0))) == 3
    with pytest.raises(UpscaleError, match=r"cannot hold gif video; choose another codec") as e:
        upscale_video(clip, tmp_path / "g.mkv", codec="gif", **FAST)
    assert "container=" not in str(e.value)
    with pytest.raises(UpscaleError, match=r"the options are .*codec.*container.*crf.*pix_fmt"):
        upscale_video(clip, tmp_path / "k.mp4", bogus=1)
    with pytest.raises(UpscaleError, match=r"progress='yes'"):
        upscale_video(clip, tmp_path / "p.mp4", progress="yes")


def test_a_video_named_as_an_image_is_said_to_be_one(tmp_path):
    clip = tiny(tmp_path / "clip.mp4")
    os.rename(clip, tmp_path / "clip.png")
    with pytest.raises(UpscaleError, match=r"clip\.png is a video, not an image: give it a "
                       r"video extension \(\.mp4, \.mkv\)$"):  # fmt: skip
        upscale_path(str(tmp_path / "clip.png"), str(tmp_path / "o.png"), **FAST)
    assert sorted(os.listdir(tmp_path)) == ["clip.png"]


def test_a_hardware_encoder_is_refused_by_what_it_is(tmp_path):
    """``h264_nvenc`` needs its GPU and driver: refused as a hardware encoder before any
    work, not as "cannot write yuv420p video" once the encoder fails to open."""
    if "h264_nvenc" not in av.codecs_available:
        pytest.skip("this PyAV build has no h264_nvenc")
    clip = tiny(tmp_path / "a.mp4")
    with pytest.raises(UpscaleError, match=r"^codec='h264_nvenc' is a hardware encoder, which "
                       r"this command does not drive; name a software one: .*libx264"):  # fmt: skip
        upscale_video(clip, tmp_path / "o.mp4", codec="h264_nvenc", **FAST)
    assert sorted(os.listdir(tmp_path)) == ["a.mp4"]


def test_skip_existing_takes_only_an_output_of_this_run_s_size_for_done(tmp_path):
    """A copy of the input, or a link to it, at the output's name has as many frames as
    the input but not the size this run writes: never taken for done, never replaced."""
    import re
    import shutil

    clip = tiny(tmp_path / "a.mp4")
    (tmp_path / "o").mkdir()
    shutil.copy(clip, tmp_path / "o" / "a_x2.mp4")
    os.symlink(clip, tmp_path / "o" / "link_x2.mp4")
    cases = (("a_x2.mp4", "a video of 32x24, not 64x48"), ("link_x2.mp4", "the input"))
    for name, why in cases:
        with pytest.raises(UpscaleError, match=re.escape(why)):
            upscale_video(clip, tmp_path / "o" / name, skip_existing=True, **FAST)
    assert open(tmp_path / "o" / "a_x2.mp4", "rb").read() == open(clip, "rb").read()
    assert os.readlink(tmp_path / "o" / "link_x2.mp4") == clip


def test_a_pdf_is_not_taken_for_a_video(tmp_path):
    """FFmpeg's raw MJPEG demuxer finds the JPEG pages of a PDF: without a video extension
    such a file is not a video (it is refused as an image Pillow cannot read)."""
    pages = [Image.fromarray(np.full((24, 32, 3), 60 * i, np.uint8)) for i in range(3)]
    pages[0].save(tmp_path / "scan.pdf", save_all=True, append_images=pages[1:])
    assert not is_video(str(tmp_path / "scan.pdf"))
    with pytest.raises(UpscaleError, match=r"cannot read .*scan\.pdf as an image"):
        upscale_path(str(tmp_path / "scan.pdf"), str(tmp_path / "o") + "/", **FAST)
    assert sorted(os.listdir(tmp_path)) == ["scan.pdf"]


def test_a_fifo_named_as_a_video_fails_alone_without_blocking(tmp_path):
    """A FIFO named ``.mp4``: opening it blocked the run for good (and Ctrl-C became that
    file's error); it fails alone, at once, as a FIFO named ``.png`` does."""
    import subprocess
    import sys

    (tmp_path / "mix").mkdir()
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "mix" / "a.png")
    os.mkfifo(tmp_path / "mix" / "fifo.mp4")
    code = ("import sys; from maffsrn_tf.upscaler import upscale_path\n"
            "try:\n    upscale_path('mix', 'o/', quantization='int8', on_error=print)\n"
            "except Exception as e:\n    print(e)\n")  # fmt: skip
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=root))  # fmt: skip
    assert run.stdout.splitlines() == [
        "input is not a regular file (a pipe or a device?): mix/fifo.mp4",
        "1 of 2 files failed: fifo.mp4",
    ], run.stdout + run.stderr
    assert os.listdir(tmp_path / "o") == ["a_x2.png"]


def test_a_rotate_tag_of_digits_int_cannot_read_is_no_rotation():
    """An old ``rotate`` tag is read only as ASCII digits: "²" (a digit to ``str.isdigit``)
    had crashed ``int()``, and "١٨٠" (Arabic-Indic) is no tag a muxer writes."""
    from maffsrn_tf.upscaler.video import _tag_rotation

    class Stream:
        def __init__(self, tag):
            self.metadata = {"rotate": tag}

    assert [_tag_rotation(Stream(t)) for t in ("90", "-90", "270", "²", "١٨٠", "")] == [
        -90, 90, 90, 0, 0, 0]  # fmt: skip
