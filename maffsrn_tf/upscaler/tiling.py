"""Inference: self-ensemble, tiled upscaling with bounded memory, and the one way to turn a
uint8 LR into a uint8 SR (``predict_uint8``). The backends are ``maffsrn_tf.upscaler.engines``.

Large images are cut into overlapping tiles (``tile`` LR pixels, ``overlap`` pixels shared with
each neighbour); outputs are blended with linear ramps across each overlap, so no seam shows.
Tiles are processed one row of tiles at a time and finished rows are written straight into
the output array, so memory beyond the input and output images is one strip of tiles.
"""

import numpy as np

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.model import presets
from maffsrn_tf.model.presets import MIN_INPUT_SIZE, check_input_size

# The overlap: with 8-bit outputs at 128-pixel tiles, tiled vs whole image agrees to 47.0-48.0
# dB on the worst Set14 image and 53.6-56.3 dB on Set5 for every overlap from 4 to 24 pixels
# (Keras and int8 alike; PSNR vs HR within +-0.006 dB of the whole image): what differs is
# ESA's pooling grid, which no overlap aligns. 8 keeps the ramps 16 output pixels wide at x2
# and recomputes 6 % of a 1280x720 photo instead of 15 % at 24 (benchmarks/tiling.py;
# tests/upscaler/test_tiling.py holds it to >= 45 dB).
# The largest tile: LiteRT/XNNPACK's first call at a tile shape costs about 2.5 us per tile
# pixel and memory grows with the tile, while smaller tiles recompute more overlap. With the
# 8-pixel overlap, maffsrn-upscale --quantization int8 on a 1280x720 photo took the same time
# with 192 to 384-pixel tiles within the noise of two runs of benchmarks/bench.py (AMD EPYC:
# 256 took 2.42 and 2.52 s, 320 2.59 and 2.27 s), and float16 was no slower at 256; peak RSS
# 237 / 318 / 364 / 600 MiB at 192 / 256 / 320 / 384. 256: 18 tiles of 246x220.
# Both numbers are read from maffsrn_tf/model/tiling.json (by model.presets), the one file that
# tflite/run_tflite.py, the web page and the Android core share.
DEFAULT_TILE = presets.DEFAULT_TILE
DEFAULT_OVERLAP = presets.DEFAULT_OVERLAP


def _dihedral(x, k, flip):
    x = np.rot90(x, k, axes=(1, 2))
    return x[:, :, ::-1] if flip else x


def _undo_dihedral(y, k, flip):
    y = y[:, :, ::-1] if flip else y
    return np.rot90(y, -k, axes=(1, 2))


def run_engine(engine, x, self_ensemble=False):
    """Engine output for a float ``1 x H x W x 3`` array; x8 geometric ensemble if asked."""
    if not self_ensemble:
        return engine(x)
    out = None
    for k in range(4):
        for flip in (False, True):
            y = _undo_dihedral(engine(np.ascontiguousarray(_dihedral(x, k, flip))), k, flip)
            out = y.astype(np.float64) if out is None else out + y
    return (out / 8).astype(np.float32)


def predict_uint8(engine, lr, tile=0, overlap=DEFAULT_OVERLAP, self_ensemble=False):
    """uint8 SR of a uint8 LR (``H x W`` or ``H x W x 3``): grayscale runs as RGB and comes
    back as the rounded mean of the three channels; the output is rounded and clipped as
    ``maffsrn-upscale`` writes it. ``tile`` 0: the whole image at once (one under the model's
    ``MIN_INPUT_SIZE`` edge-padded to it and cropped back, as ``upscale()`` does: the model
    cannot run on it, or an engine without the check returns other values); else tiled,
    images smaller than a tile edge-padded to one (as a fixed-shape model needs).

    Evaluation, the export's verification and training's validation all predict with this.
    """
    gray = lr.ndim == 2
    rgb = np.repeat(lr[..., None], 3, -1) if gray else lr
    h, w = rgb.shape[:2]
    if tile:
        rgb = np.pad(rgb, ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0)), mode="edge")
        x = rgb.astype(np.float32) / 255.0
        sr = tiled_predict(engine, x, engine.scale, tile, overlap, self_ensemble)
        sr = sr[: h * engine.scale, : w * engine.scale]
    else:  # below the model's minimum: edge-padded and cropped back, as upscale() does
        pad = ((0, max(0, MIN_INPUT_SIZE - h)), (0, max(0, MIN_INPUT_SIZE - w)), (0, 0))
        x = np.pad(rgb, pad, mode="edge")[None].astype(np.float32) / 255.0
        y = run_engine(engine, x, self_ensemble)[0][: h * engine.scale, : w * engine.scale]
        sr = np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)
    if gray:  # sum/3 is never halfway: (sum + 1) // 3 is the rounded mean
        sr = ((sr.sum(-1, dtype=np.uint32) + 1) // 3).astype(np.uint8)
    return sr


def fixed_tile_problem(tile, fixed):
    """The message for ``tile`` asked of a model fixed to ``fixed``-pixel tiles."""
    return (
        f"tile={tile}: the model is fixed to {fixed}-pixel tiles: pass tile={fixed}, or leave "
        "it out"
    )


def tile_layout(length, tile, overlap, exact=False):
    """``(size, starts)``: the fewest tiles of at most ``tile`` pixels that cover ``length``
    with at least ``overlap`` pixels shared by neighbours, all of one ``size`` and spread
    evenly, so no pixel is computed more often than needed (a 1280-pixel row in 384-pixel
    tiles: 4 tiles of 338, not 3 of 384 and a fourth mostly overlapping the third) and a
    dynamic-shape model is allocated once. ``exact``: tiles of exactly ``tile`` pixels (a
    fixed-shape model's), still spread evenly."""
    if length <= tile:
        return length, [0]
    n = -(-(length - overlap) // (tile - overlap))
    size = tile if exact else max(-(-(length + (n - 1) * overlap) // n), MIN_INPUT_SIZE)
    return size, [i * (length - size) // (n - 1) for i in range(n)]


def _ramp(n_out, left, right, scale):
    """Blend weights along one axis of a tile: ramps over the overlaps with its neighbours."""
    w = np.ones(n_out, np.float32)
    if left:
        n = left * scale
        w[:n] = (np.arange(n) + 0.5) / n
    if right:
        n = right * scale
        w[n_out - n :] = np.minimum(w[n_out - n :], (np.arange(n)[::-1] + 0.5) / n)
    return w


def tiled_predict(
    engine,
    image,
    scale,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    out_dtype=np.uint8,
    max_value=255.0,
    progress=None,
):
    """Upscale an ``H x W x 3`` image; returns ``out_dtype`` scaled to ``max_value``.

    ``image``: floats in [0, 1], or integers in [0, ``max_value``] (converted one tile at a
    time, so a large photo is never held as float32). ``tile``: LR tile size; ``None`` for the
    default (``DEFAULT_TILE``, or the tile of a fixed-shape model), ``0`` for the whole image at
    once. ``progress(done, total)`` is called per tile. Besides the output and the input, the
    memory used is one strip of tile rows as float32, whatever the image size.
    """
    h, w = image.shape[:2]
    check_input_size(h, w)
    if engine.fixed_size:
        if tile is not None and tile != engine.fixed_size[0]:
            raise MaffsrnError(fixed_tile_problem(tile, engine.fixed_size[0]))
        tile = engine.fixed_size[0]
        if h < tile or w < tile:  # edge-pad up to one tile, crop the padding off the result
            pad = ((0, max(0, tile - h)), (0, max(0, tile - w)), (0, 0))
            padded = np.pad(image, pad, mode="edge")
            out = tiled_predict(
                engine, padded, scale, tile, overlap, self_ensemble, out_dtype, max_value, progress
            )
            return out[: h * scale, : w * scale]
    if tile is None:
        tile = DEFAULT_TILE
    if not tile:
        tile = max(h, w)
    if tile < MIN_INPUT_SIZE:
        raise MaffsrnError(f"tile={tile} is below the model's minimum of {MIN_INPUT_SIZE}")
    if overlap < 0:
        raise MaffsrnError(f"overlap={overlap} is negative")
    if max(h, w) > tile and 2 * overlap >= tile:  # one tile covering the image needs none
        raise MaffsrnError(f"overlap={overlap} is not below half of tile={tile}")
    exact = engine.fixed_size is not None
    (th, ys), (tw, xs) = tile_layout(h, tile, overlap, exact), tile_layout(w, tile, overlap, exact)
    # each tile's weights, normalized and scaled to max_value once: row factor x column factor
    wys = _blend_weights(h, th, ys, scale, max_value)
    wxs = _blend_weights(w, tw, xs, scale)
    to_float = None if np.issubdtype(image.dtype, np.floating) else np.float32(1.0 / max_value)
    out = np.empty((h * scale, w * scale, 3), out_dtype)
    acc = np.zeros((th * scale, w * scale, 3), np.float32)  # one strip of output rows, reused
    total, done = len(ys) * len(xs), 0
    for r, y0 in enumerate(ys):
        if r:  # move the rows shared with the previous strip to the top, clear the rest
            keep = _overlaps(ys, r, th)[0] * scale
            acc[:keep] = acc[acc.shape[0] - keep :]
            acc[keep:] = 0
        for c, x0 in enumerate(xs):
            patch = image[None, y0 : y0 + th, x0 : x0 + tw]
            if to_float is None:
                patch = np.ascontiguousarray(patch, np.float32)
            else:
                patch = np.multiply(patch, to_float, dtype=np.float32)
            sr = run_engine(engine, patch, self_ensemble)[0]
            if not sr.flags.writeable or sr.dtype != np.float32:
                sr = sr.astype(np.float32)
            sr *= wys[r][:, None, None]
            sr *= wxs[c][None, :, None]
            acc[:, x0 * scale : (x0 + tw) * scale] += sr
            done += 1
            if progress:
                progress(done, total)
        # finished rows (up to the next strip), rounded in place: memory stays bounded
        top, end = y0 * scale, (ys[r + 1] if r + 1 < len(ys) else y0 + th) * scale
        rows = acc[: end - top]
        np.round(rows, out=rows)
        np.clip(rows, 0, max_value, out=rows)
        out[top:end] = rows
    return out


def _blend_weights(length, size, starts, scale, factor=1.0):
    """Per-tile ramps along one axis, each divided by the ramps' sum over the tiles, times
    ``factor``. A tile's blend weight is row ramp x column ramp, so the 2-D weight sum is the
    outer product of two such sums and normalizing each axis normalizes the blend."""
    ramps = [_ramp(size * scale, *_overlaps(starts, i, size), scale) for i in range(len(starts))]
    total = np.zeros(length * scale, np.float32)
    for start, ramp in zip(starts, ramps):
        total[start * scale : (start + size) * scale] += ramp
    return [
        (ramp * np.float32(factor)) / total[start * scale : (start + size) * scale]
        for start, ramp in zip(starts, ramps)
    ]


def _overlaps(starts, i, size):
    """Pixels tile ``i`` shares with its previous and next neighbour along one axis."""
    before = starts[i - 1] + size - starts[i] if i > 0 else 0
    after = starts[i] + size - starts[i + 1] if i + 1 < len(starts) else 0
    return max(before, 0), max(after, 0)
