"""Video upscaling speed: frames per second of ``maffsrn-upscale`` on a 640x360 clip at x2
(1280x720 H.264 out), shipped int8 against float16 TFLite (docs/video.md).

    python benchmarks/video_fps.py [--frames 30] [--model_frames 10] [--repeats 2]

The clip is made here: a pan across the shipped sample photo (natural detail), 640x360 at
30000/1001 frames/s, FFV1 in Matroska (cheap to decode) with an AAC tone, ``--frames`` long.
Each command runs in a fresh process, as a user runs it: start-up, model load, decoding, the
tiles, H.264 encoding (libx264, CRF 18) and the audio copy all count; frames/s is frames over
its wall time, and its peak RSS is polled. "Model alone": ``upscale_with`` on the first
``--model_frames`` decoded frames in this process (the first, which sets up the tile shapes,
not timed). int8 and float16 alternate ``--repeats`` times and the best of each is kept:
other work on the machine slows a run, never speeds it up. What each step changes, as PSNR:
each command's H.264 frames against its own model output (the encoder's loss), and int8's
model output against float16's. Prints a Markdown table.
"""

import argparse
import os
import platform
import tempfile
import time

import numpy as np
from bench import command  # maffsrn-upscale in a fresh process: wall time, peak RSS

WIDTH, HEIGHT = 640, 360


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line for line in f if line.startswith("model name")).split(":", 1)[1]
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def make_clip(path, frames):
    """``frames`` frames of a pan across the sample photo, FFV1 in Matroska, with audio."""
    import fractions

    import av
    from PIL import Image

    from maffsrn_tf.model.shipped import sample_photo_path

    rate = fractions.Fraction(30000, 1001)
    with Image.open(sample_photo_path()) as im:
        scene = np.asarray(im.convert("RGB").resize((1000, 1170), Image.LANCZOS))
    with av.open(path, "w") as out:
        video = out.add_stream("ffv1", rate=rate)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        for i in range(frames):
            y, x = 200 + 7 * i, 100 + 5 * i
            view = np.ascontiguousarray(scene[y : y + HEIGHT, x : x + WIDTH])
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode())
        samples = int(48000 * frames / rate)
        tone = np.sin(2 * np.pi * 440 * np.arange(samples) / 48000).astype(np.float32) * 0.3
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.stack([tone[start : start + 1024]] * 2), format="fltp", layout="stereo"
            )
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(sound.encode(chunk))
        out.mux(sound.encode())


def decoded(path, count):
    """The first ``count`` frames of a video as RGB arrays (PyAV's conversion)."""
    import av

    with av.open(path) as container:
        pairs = zip(range(count), container.decode(video=0))
        return [frame.to_ndarray(format="rgb24") for _, frame in pairs]


def psnr(a, b):
    """PSNR (dB) of two lists of frames, over all their pixels."""
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)])
    return 10 * np.log10(255.0**2 / mse)


def model_alone(clip, quantization, count):
    """``(frames per second, outputs)`` of the model (``upscale_with``: tiles and blending)
    on the clip's first ``count`` decoded frames, the first (shape set-up) not timed."""
    from maffsrn_tf.upscaler import UpscaleOptions, make_engine, upscale_with

    options = UpscaleOptions(variant=quantization)
    engine = make_engine(options)
    frames = decoded(clip, count)
    outputs = [upscale_with(engine, frames[0], options)]
    start = time.perf_counter()
    outputs += [upscale_with(engine, frame, options) for frame in frames[1:]]
    return (len(frames) - 1) / (time.perf_counter() - start), outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="frames in the clip")
    parser.add_argument("--model_frames", type=int, default=10, help="frames timed alone")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs; the best")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # the clip and the outputs go with it
        run(args, tmp)


def run(args, tmp):
    """Make the clip in ``tmp``, time both commands and the model, print the table."""
    clip = os.path.join(tmp, "clip.mkv")
    make_clip(clip, args.frames)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{cpu_name().strip()}, {cores} cores (load average {load:.1f} at the start); "
          f"Python {platform.python_version()}; {args.frames} frames of {WIDTH}x{HEIGHT} -> "
          f"{2 * WIDTH}x{2 * HEIGHT}\n")  # fmt: skip
    print(f"python benchmarks/video_fps.py --frames {args.frames} --model_frames "
          f"{args.model_frames} --repeats {args.repeats}\n")  # fmt: skip
    kinds = ("int8", "float16")
    walls, peaks, alone, models = {k: [] for k in kinds}, {}, {k: [] for k in kinds}, {}
    for _ in range(args.repeats):  # interleaved: a busy spell hurts both alike
        for quantization in kinds:
            out = os.path.join(tmp, f"clip_{quantization}.mp4")
            cmd = ["clip.mkv", "-o", os.path.basename(out), "--quantization", quantization,
                   "--overwrite"]  # fmt: skip
            wall, peak = command([clip, "-o", out, *cmd[3:]], 1)
            print(f"maffsrn-upscale {' '.join(cmd)}: {wall:.1f} s", flush=True)
            walls[quantization].append(wall)
            peaks[quantization] = max(peaks.get(quantization, 0), peak)
            fps, models[quantization] = model_alone(clip, quantization, args.model_frames)
            alone[quantization].append(fps)
    print("\n| quantization | wall (s) | frames/s | model alone (frames/s) | command / model "
          "speed | peak RSS (MiB) | H.264 vs its model output (dB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    best = {}
    for quantization in kinds:
        wall, model = min(walls[quantization]), max(alone[quantization])
        best[quantization] = args.frames / wall
        out = os.path.join(tmp, f"clip_{quantization}.mp4")
        encoded = psnr(decoded(out, args.model_frames), models[quantization])
        print(f"| {quantization} | {wall:.1f} | {best[quantization]:.2f} | {model:.2f} | "
              f"{best[quantization] / model:.0%} | {peaks[quantization]:.0f} | "
              f"{encoded:.1f} |")  # fmt: skip
    drift = psnr(models["int8"], models["float16"])
    print(
        f"\nbest of {args.repeats}; int8 / float16: {best['int8'] / best['float16']:.2f}x the "
        f"frames per second; int8's model output against float16's: {drift:.1f} dB (over "
        f"{args.model_frames} frames)"
    )


if __name__ == "__main__":
    main()
