"""The io wing: images in and out as people have them, and atomic output.

- ``images``: the one image reader (EXIF orientation, palettes, 16-bit, CMYK, ICC, EXIF, XMP
  and DPI kept, a pixel limit per call) and writer (format from the extension, metadata
  where the format carries it; ``without_metadata`` drops EXIF and XMP).
- ``png``: the fast 8- and 16-bit PNG encoder ``images`` writes every PNG with.
- ``atomic``: outputs written to a temporary name and renamed, so nothing is half-written.
- ``paths``: ``within``, the one "is this path that folder, or inside it" (by real paths);
  ``made_folders``, output folders a run made removed again if it wrote nothing there;
  ``name_too_long``.
- ``progress``: a tqdm bar where a terminal can show one (``None`` for a log).

May import: ``maffsrn_tf.errors`` only.
"""

from maffsrn_tf.io.atomic import (
    TEMPORARY_PREFIX,
    atomic_folder,
    atomic_output,
    remove_stale_temporaries,
)
from maffsrn_tf.io.images import (
    IMAGE_EXTENSIONS,
    ImageError,
    encode_image,
    image_size,
    list_images,
    read_image,
    read_rgb,
    to_uint8,
    without_metadata,
    write_image,
)
from maffsrn_tf.io.paths import made_folders, name_too_long, within
from maffsrn_tf.io.png import encode_png
from maffsrn_tf.io.progress import is_terminal, progress_bar

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEMPORARY_PREFIX",
    "ImageError",
    "atomic_folder",
    "atomic_output",
    "encode_image",
    "encode_png",
    "image_size",
    "is_terminal",
    "list_images",
    "made_folders",
    "name_too_long",
    "progress_bar",
    "read_image",
    "read_rgb",
    "remove_stale_temporaries",
    "to_uint8",
    "without_metadata",
    "within",
    "write_image",
]
