"""The graphics stress set (issue #43): synthetic HR images of what natural-photo calibration
data never shows: rendered text on saturated and dark backgrounds, flat saturated colours
with hard edges, gradients, line art, stripes, a chart and a UI-like screenshot. int8 models
calibrated on photos lose the most on such pictures; ``maffsrn-export --stress_set`` and
``benchmarks/int8_worst.py`` measure them, and the int8 export calibrates a few tensor groups
on patches of other seeds (``export.calibrate.image_patches``).

Deterministic: the same arguments give the same pixels on the same machine (one ``numpy``
generator seeded by ``seed`` draws every colour, word and position). Fonts: the Debian
TrueType fonts in ``FONT_FILES`` that are present, in that order, else Pillow's bundled
default font (``ImageFont.load_default(size=...)``); ``bundled_only`` uses the bundled font
alone, so that the pixels depend on Pillow only, not on the machine's fonts.

Every side is a multiple of 12, so x2, x3 and x4 mod-crops are exact (``scale``, 0.25 or
more, shrinks the canvases, rounded to multiples of 12, for quick tests). Seed 0
(``EVALUATION_SEED``) is the evaluation set; calibration draws from other seeds
(``CALIBRATION_SEEDS``). ``tools/stress_set.py`` writes the set as PNGs.
"""

import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# seed 0 is the stress *test* set; int8 calibration draws graphics patches from 1 and 2
EVALUATION_SEED = 0
CALIBRATION_SEEDS = (1, 2)

FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)

WORDS = (
    "Quantization", "int8", "range", "Results", "Overview", "Method", "MAFFSRN", "Attention",
    "Super", "Resolution", "Settings", "OK", "Cancel", "Export", "Layer", "Model", "PSNR",
    "Deep", "Network", "Image", "Edge", "Colour", "Budget", "Summary", "Mobile", "Upscale",
    "2x", "4K", "Q3", "2026", "Sales", "Total", "Chapter", "Introduction", "Figure", "42%",
)  # fmt: skip

# saturated and dark backgrounds, and colours of text/graphics on them
SATURATED = (
    (255, 102, 0), (240, 90, 20), (230, 0, 0), (0, 160, 0), (0, 60, 230), (255, 0, 200),
    (255, 210, 0), (0, 200, 220), (130, 0, 200), (200, 0, 60),
)  # fmt: skip
DARK = ((0, 0, 0), (15, 15, 30), (30, 10, 10), (10, 30, 20), (40, 40, 40))
LIGHT = ((255, 255, 255), (250, 250, 240), (255, 255, 0), (0, 255, 255), (230, 230, 230))


def _side(n, scale):
    """``n * scale`` rounded to a multiple of 12, at least 48."""
    return max(48, int(round(n * scale / 12)) * 12)


class _Painter:
    """The seeded random choices and fonts that every image draws from."""

    def __init__(self, seed, bundled_only=False):
        self.rng = np.random.default_rng(seed)
        self.font_files = [] if bundled_only else [f for f in FONT_FILES if os.path.isfile(f)]

    def font(self, size, index=None):
        """The ``index``-th available font (random when None) at ``size`` pixels; Pillow's
        bundled font when no TrueType font file is present."""
        if not self.font_files:
            return ImageFont.load_default(size=size)
        if index is None:
            index = int(self.rng.integers(len(self.font_files)))
        return ImageFont.truetype(self.font_files[index % len(self.font_files)], size)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def words(self, n):
        return " ".join(self.pick(WORDS) for _ in range(n))

    def colour(self):
        return tuple(int(v) for v in self.rng.integers(0, 256, 3))


def _text_on(p, w, h, background, colours):
    """Lines of text of several sizes and fonts on a flat ``background``."""
    img = Image.new("RGB", (w, h), background)
    d = ImageDraw.Draw(img)
    y = 6
    for size in (30, 22, 16, 12, 10, 18, 26, 14, 11, 20):
        if y + size > h - 4:
            break
        x = int(p.rng.integers(4, max(5, w // 6)))
        d.text((x, y), p.words(int(p.rng.integers(2, 6))), fill=p.pick(colours), font=p.font(size))
        y += int(size * 1.35) + int(p.rng.integers(2, 8))
    return img


def slide(p, s):
    """A presentation slide: white title and bullets on saturated orange (as Set14 img_013)."""
    w, h = _side(480, s), _side(360, s)
    img = Image.new("RGB", (w, h), p.pick(SATURATED[:2]))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w, h // 6], fill=(200, 60, 0))
    d.text((w // 20, h // 30), p.words(3), fill=(255, 255, 255), font=p.font(max(10, h // 10), 0))
    y = h // 4
    for size in (24, 20, 18, 16, 14, 12):
        size = max(8, int(size * s))
        if y + size > h - 4:
            break
        d.ellipse([w // 20, y + size // 3, w // 20 + size // 3, y + 2 * size // 3], fill="white")
        d.text((w // 10, y), p.words(int(p.rng.integers(3, 7))), fill="white", font=p.font(size))
        y += int(size * 1.6)
    return img


def text_saturated(p, s):
    """Text in four saturated bands, each band's text in a contrasting colour."""
    w, h = _side(384, s), _side(384, s)
    img = Image.new("RGB", (w, h))
    bands = 4
    for i in range(bands):
        band = _text_on(p, w, h // bands, p.pick(SATURATED), LIGHT + DARK[:1])
        img.paste(band, (0, i * (h // bands)))
    return img


def text_dark(p, s):
    """Light and saturated text on near-black."""
    w, h = _side(360, s), _side(480, s)
    return _text_on(p, w, h, p.pick(DARK), LIGHT + SATURATED)


def text_small(p, s):
    """Small text (bundled font and the others): black on white, yellow on blue, red on
    green."""
    w, h = _side(396, s), _side(300, s)
    img = Image.new("RGB", (w, h))
    pairs = (
        ((255, 255, 255), (0, 0, 0)),
        ((0, 40, 200), (255, 255, 0)),
        ((0, 170, 0), (230, 0, 0)),
    )
    for i, (bg, fg) in enumerate(pairs):
        part = Image.new("RGB", (w, h // 3), bg)
        d = ImageDraw.Draw(part)
        y = 2
        while y + 12 < h // 3:
            size = int(p.rng.integers(8, 13))
            font = ImageFont.load_default(size=size) if i == 0 else p.font(size)
            d.text((3, y), p.words(8), fill=fg, font=font)
            y += size + 3
        img.paste(part, (0, i * (h // 3)))
    return img


def flat_shapes(p, s):
    """Flat saturated rectangles, ellipses and polygons with hard (aliased) edges."""
    w, h = _side(432, s), _side(432, s)
    img = Image.new("RGB", (w, h), p.pick(SATURATED + DARK))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        colour = p.pick(SATURATED + LIGHT + DARK)
        x0, y0 = int(p.rng.integers(-w // 8, w)), int(p.rng.integers(-h // 8, h))
        x1, y1 = x0 + int(p.rng.integers(8, w // 3)), y0 + int(p.rng.integers(8, h // 3))
        kind = int(p.rng.integers(3))
        if kind == 0:
            d.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            d.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            pts = [(int(p.rng.integers(0, w)), int(p.rng.integers(0, h))) for _ in range(3)]
            d.polygon(pts, fill=colour)
    return img


def gradients(p, s):
    """Saturated linear and radial gradients, and hard steps between flat colours."""
    w, h = _side(384, s), _side(264, s)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = np.array(p.pick(SATURATED), np.float32), np.array(p.pick(SATURATED), np.float32)
    t = (xx / (w - 1))[..., None]
    out = a * (1 - t) + b * t
    # a radial gradient in the right third, and 8 hard steps along the bottom quarter
    r = np.hypot(xx - 5 * w / 6, yy - h / 3) / (h / 3)
    c = np.array(p.pick(LIGHT), np.float32)
    radial = c * np.clip(1 - r, 0, 1)[..., None] + out * np.clip(r, 0, 1)[..., None]
    out = np.where((xx > 2 * w / 3)[..., None], radial, out)
    steps = np.floor(xx / (w / 8)).astype(int)
    palette = np.array([p.pick(SATURATED + DARK + LIGHT) for _ in range(8)], np.float32)
    out = np.where((yy > 3 * h / 4)[..., None], palette[steps], out)
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def line_art(p, s):
    """One- and two-pixel lines: hatching, a fan of rays, concentric circles, a grid; black
    on white and white on a saturated colour."""
    w, h = _side(396, s), _side(396, s)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([w // 2, 0, w, h // 2], fill=p.pick(SATURATED))
    for i in range(0, w // 2, 6):  # hatching
        d.line([(i, 0), (i + h // 4, h // 2)], fill=(0, 0, 0), width=1 + (i // 6) % 2)
    cx, cy = 3 * w // 4, h // 4
    for k in range(24):  # rays
        angle = np.pi * k / 12
        x, y = cx + int(w / 4.5 * np.cos(angle)), cy + int(h / 4.5 * np.sin(angle))
        d.line([(cx, cy), (x, y)], fill=(255, 255, 255), width=1)
    for r in range(4, min(w, h) // 4, 5):  # concentric circles
        d.ellipse([w // 4 - r, 3 * h // 4 - r, w // 4 + r, 3 * h // 4 + r], outline=(0, 0, 0))
    for x in range(w // 2, w, 8):  # grid
        d.line([(x, h // 2), (x, h)], fill=p.pick(SATURATED), width=1)
    for y in range(h // 2, h, 8):
        d.line([(w // 2, y), (w, y)], fill=p.pick(SATURATED), width=1)
    return img


def stripes(p, s):
    """Checkerboards and stripes of 1 to 6 pixels in saturated colour pairs."""
    w, h = _side(288, s), _side(288, s)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, 3), np.uint8)
    cells = ((0, 0), (0, 1), (1, 0), (1, 1))
    for (cy, cx), period in zip(cells, (1, 2, 3, 6)):
        a, b = np.array(p.pick(SATURATED + DARK)), np.array(p.pick(LIGHT + SATURATED))
        ys, xs = slice(cy * h // 2, (cy + 1) * h // 2), slice(cx * w // 2, (cx + 1) * w // 2)
        if (cy + cx) % 2:
            mask = ((yy[ys, xs] // period + xx[ys, xs] // period) % 2).astype(bool)
        else:
            mask = ((xx[ys, xs] + yy[ys, xs] * (cy + 1)) // period % 2).astype(bool)
        out[ys, xs] = np.where(mask[..., None], a, b)
    return Image.fromarray(out)


def chart(p, s):
    """A bar chart with axis labels and a legend on white, and a pie on a dark panel."""
    w, h = _side(432, s), _side(312, s)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = 30, 20, 2 * w // 3, h - 30
    d.line([(x0, y0), (x0, y1), (x1, y1)], fill=(0, 0, 0), width=2)
    n = 6
    for i in range(n):
        bh = int(p.rng.integers(10, y1 - y0 - 10))
        bx = x0 + 8 + i * (x1 - x0 - 8) // n
        bar = max(2, (x1 - x0) // n - 10)
        d.rectangle([bx, y1 - bh, bx + bar, y1 - 1], fill=SATURATED[i])
        d.text((bx, y1 + 4), p.pick(WORDS)[:5], fill=(0, 0, 0), font=p.font(11))
        d.text(
            (4, y1 - (i + 1) * (y1 - y0) // n), str(10 * (i + 1)), fill=(0, 0, 0), font=p.font(10)
        )
    d.rectangle([2 * w // 3 + 6, 0, w, h], fill=p.pick(DARK))
    bx = 2 * w // 3 + 16  # the pie in the panel (at least 8 px, for --scale's small canvases)
    box = [bx, h // 6, max(bx + 8, w - 10), h // 6 + max(8, w // 3 - 26)]
    start = 0
    for i in range(5):
        end = start + int(p.rng.integers(30, 100)) if i < 4 else 360
        d.pieslice(box, start, end, fill=SATURATED[(i + 3) % len(SATURATED)])
        start = end
    d.text((2 * w // 3 + 14, 8), p.words(2), fill=(255, 255, 255), font=p.font(14))
    return img


def ui_screenshot(p, s):
    """A UI-like screenshot: title bar, sidebar, buttons, a text field, a list, icons."""
    w, h = _side(504, s), _side(360, s)
    img = Image.new("RGB", (w, h), (245, 245, 245))
    d = ImageDraw.Draw(img)
    bar = max(12, h // 14)
    d.rectangle([0, 0, w, bar], fill=p.pick(SATURATED[4:6] + SATURATED[:1]))
    d.text((8, 3), p.words(3), fill=(255, 255, 255), font=p.font(max(9, bar - 8), 0))
    for i, c in enumerate(((255, 95, 87), (255, 189, 46), (40, 200, 64))):
        d.ellipse([w - 60 + 18 * i, 5, w - 48 + 18 * i, bar - 5], fill=c)
    side = w // 4
    d.rectangle([0, bar, side, h], fill=p.pick(DARK))
    y = bar + 10
    while y + 14 < h:
        d.text((10, y), p.pick(WORDS), fill=p.pick(LIGHT), font=p.font(12))
        d.rectangle([side - 14, y + 2, side - 6, y + 10], fill=p.pick(SATURATED))
        y += 22
    d.rectangle(
        [side + 16, bar + 14, w - 16, bar + 40], fill=(255, 255, 255), outline=(120, 120, 120)
    )
    d.text((side + 22, bar + 19), p.words(4), fill=(60, 60, 60), font=p.font(13))
    for i in range(3):
        bx = side + 16 + i * ((w - side - 32) // 3)
        colour = p.pick(SATURATED)
        d.rounded_rectangle(
            [bx, bar + 54, bx + (w - side - 32) // 3 - 10, bar + 84], 6, fill=colour
        )
        d.text((bx + 10, bar + 61), p.pick(WORDS), fill=(255, 255, 255), font=p.font(15))
    y = bar + 100
    while y + 20 < h:
        d.rectangle(
            [side + 16, y, w - 16, y + 18],
            fill=(255, 255, 255) if (y // 22) % 2 else (232, 240, 255),
        )
        d.text((side + 22, y + 3), p.words(5), fill=(20, 20, 20), font=p.font(11))
        y += 22
    return img


IMAGES = (slide, text_saturated, text_dark, text_small, flat_shapes, gradients, line_art,
          stripes, chart, ui_screenshot)  # fmt: skip


def stress_images(seed=0, scale=1.0, bundled_only=False):
    """``[(name, uint8 H x W x 3)]``: the stress set drawn from ``seed`` (``scale``: 0.25
    or more)."""
    if scale < 0.25:
        raise ValueError(f"scale must be at least 0.25, got {scale}")
    p = _Painter(seed, bundled_only)
    return [
        (f"{i:02d}_{f.__name__}", np.asarray(f(p, scale).convert("RGB")))
        for i, f in enumerate(IMAGES)
    ]


def write_stress_set(folder, seed=0, scale=1.0, bundled_only=False):
    """Write the stress set as PNGs into ``folder`` (created); returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, array in stress_images(seed, scale, bundled_only):
        path = os.path.join(folder, f"{name}.png")
        Image.fromarray(array).save(path, optimize=False, compress_level=6)
        paths.append(path)
    return paths
