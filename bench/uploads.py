#!/usr/bin/env python3
"""The pictures of the `uploads` benchmark scenario, and Pillow's run of the same pipeline.

    uploads.py generate OUT.jpg     a 12-megapixel phone JPEG (4032 x 3024 as stored, EXIF
                                    orientation 6 and a GPS position), the same bytes every time
    uploads.py pillow FILE ROUNDS   Pillow doing what the server does with FILE, ROUNDS times;
                                    prints one `RESULT {json}` line

Pillow's pipeline is what the service it replaces did, as its documentation recommends: open,
`ImageOps.exif_transpose` (which decodes every pixel), then each rendition (2048, 1080, 320 px
on the long edge) with `thumbnail(..., LANCZOS)` from the one before, each encoded once as a
JPEG of quality 85 into memory. `draft` (Pillow's DCT-scaled decode) is timed as well, as a
second figure: it is what a Pillow service tuned for speed would do.
"""

import io
import json
import random
import sys
import time

from PIL import Image, ImageFilter, ImageOps

SIZES = (2048, 1080, 320)


def generate(path):
    """Deterministic photo-like content: smooth light, shapes, and sensor grain."""
    width, height = 4032, 3024
    rng = random.Random(20261207)
    # Large-scale light and colour: a small random picture blown up smoothly.
    small = Image.frombytes("RGB", (32, 24), rng.randbytes(32 * 24 * 3))
    light = small.resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(40))
    # Medium-scale texture (leaves, fabric): a finer random picture, blurred a little.
    texture = Image.frombytes("L", (1008, 756), rng.randbytes(1008 * 756))
    texture = texture.resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    picture = Image.composite(light, Image.merge("RGB", (texture,) * 3), Image.new("L", (width, height), 190))
    # Grain at full resolution.
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    picture = Image.composite(picture, Image.merge("RGB", (grain,) * 3), Image.new("L", (width, height), 235))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "Phone"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 24.05)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.2)
    picture.save(path, "JPEG", quality=92, subsampling=2, exif=exif.tobytes())


def pipeline(data, draft):
    image = Image.open(io.BytesIO(data))
    if draft:
        image.draft("RGB", (SIZES[0], SIZES[0]))
    image = ImageOps.exif_transpose(image).convert("RGB")
    sizes = []
    for edge in SIZES:
        image = image.copy()
        image.thumbnail((edge, edge), Image.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        sizes.append(len(out.getvalue()))
    return sizes


def pillow(path, rounds):
    with open(path, "rb") as f:
        data = f.read()
    result = {"pillow_version": Image.__version__ if hasattr(Image, "__version__") else "?"}
    for name, draft in (("full", False), ("draft", True)):
        pipeline(data, draft)  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            sizes = pipeline(data, draft)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        result[f"{name}_cpu_ms"] = 1000 * cpu / rounds
        result[f"{name}_wall_ms"] = 1000 * wall / rounds
        result[f"{name}_bytes"] = sizes
        print(f"pillow ({name} decode): {rounds} rounds, {1000 * cpu / rounds:.1f} ms CPU each, renditions {sizes} bytes")
    print("RESULT " + json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "pillow":
        pillow(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
