"""Save a screenshot of the finished page for the README (``make web-screenshot``).

    python web/screenshot.py [--image PHOTO] [--output docs/web_page.png]

Upscales a photo (default: the sample photo ``maffsrn-upscale`` uses, reduced to 160 px
wide) x2 with the int8 model in headless Chromium and saves the page.
"""

import argparse
import os
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Page  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", default="")
    p.add_argument("--output", default=os.path.join(ROOT, "docs", "web_page.png"))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = a.image
        if not path:
            from maffsrn_tf.model.shipped import sample_photo_path

            photo = Image.open(sample_photo_path())
            path = os.path.join(tmp, "grace_hopper.png")
            photo.resize((160, 160 * photo.height // photo.width), Image.BICUBIC).save(path)
        page = Page(width=900, height=1000)
        try:
            page.choose(path)
            page.upscale(2, "int8")
            page.page.screenshot(path=a.output, full_page=True)
        finally:
            page.close()
    print(f"wrote {os.path.relpath(a.output)}")


if __name__ == "__main__":
    main()
