"""Product shots for the sandbox catalogue: carousel images drawn with OpenCV and short product videos from ffmpeg.

PIL is not a dependency, so pictures are drawn with OpenCV on numpy arrays: a textured two-colour background, the
category's product shape in the product's colour, and its short name and price (Hershey fonts are ASCII-only, so
the label is the product's ASCII short name). Each image of a product is another "angle": background, zoom,
position and tilt differ, so the images of one product, and of different products, are different pictures (they
must not look alike to the near-duplicate measure). A video is a 3 s, 9:16, 12 fps pan-and-zoom over a drawn scene
(``zoompan``), encoded with libx264 ``ultrafast``.

Files are made on first request and cached under ``<data dir>/alliance/<product id>/``; the same seed draws the
same pictures.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from clipper.ffmpeg import Command, Input, Output, run
from sandbox.catalogue import CatalogueProduct

__all__ = ["IMAGE_SIZE", "VIDEO_SECONDS", "VIDEO_SIZE", "media_file", "media_names"]

IMAGE_SIZE = 600
VIDEO_SIZE = (360, 640)
VIDEO_SECONDS = 3.0
VIDEO_FPS = 12
BGR = tuple[int, int, int]
Gen = np.random.Generator
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def media_names(product: CatalogueProduct) -> tuple[list[str], list[str]]:
    """The image and video file names of ``product`` (``img1.jpg``..., ``video1.mp4``)."""
    return (
        [f"img{i}.jpg" for i in range(1, product.image_count + 1)],
        [f"video{i}.mp4" for i in range(1, product.video_count + 1)],
    )


def media_file(product: CatalogueProduct, name: str, root: Path, seed: int) -> Path | None:
    """The cached file ``name`` of ``product`` under ``root``, drawn first if needed; ``None`` for an unknown name."""
    images, videos = media_names(product)
    if name not in images and name not in videos:
        return None
    target = root / product.product_id / name
    if target.is_file():
        return target
    with _locks_guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:  # two requests for the same file draw it once
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.{os.getpid()}.part{target.suffix}")
        try:
            if name in images:
                frame = draw_shot(product, images.index(name), seed, IMAGE_SIZE, IMAGE_SIZE)
                ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
                if not ok:
                    raise RuntimeError(f"cannot encode {name}")
                partial.write_bytes(data.tobytes())
            else:
                _draw_video(product, videos.index(name), seed, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def _rng(product: CatalogueProduct, seed: int, shot: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(product.product_id) % 2**32, shot])


def _colour(hue: int, sat: int, val: int) -> tuple[int, int, int]:
    pixel = np.array([[[hue % 180, sat, val]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_shot(product: CatalogueProduct, shot: int, seed: int, width: int, height: int) -> np.ndarray:
    """One product picture (BGR, ``height`` x ``width``): shot 0 is the cover (centred, plain), later shots vary."""
    rng = _rng(product, seed, shot)
    # background: two colours blended along a random direction, with a coarse random texture over it
    bg_hue = (product.hue + 90 + int(rng.integers(-30, 30))) % 180
    top = np.array(_colour(bg_hue, int(rng.integers(20, 90)), int(rng.integers(200, 250))), dtype=np.float32)
    bottom = np.array(_colour(bg_hue + 20, int(rng.integers(40, 140)), int(rng.integers(120, 200))), dtype=np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    # drawn at a quarter of the size and scaled up: the background is smooth, and this is most of the work
    small_w, small_h = max(8, width // 4), max(8, height // 4)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    ramp = (xs / small_w - 0.5) * math.cos(angle) + (ys / small_h - 0.5) * math.sin(angle) + 0.5
    ramp = np.clip(ramp, 0, 1)[..., None]
    texture = cv2.resize(rng.random((6, 6)).astype(np.float32), (small_w, small_h), interpolation=cv2.INTER_CUBIC)
    small = top * (1 - ramp) + bottom * ramp + (texture[..., None] - 0.5) * 70
    image = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)

    scale = min(width, height) * (0.55 if shot == 0 else float(rng.uniform(0.45, 0.9)))
    cx = width * (0.5 if shot == 0 else float(rng.uniform(0.3, 0.7)))
    cy = height * (0.47 if shot == 0 else float(rng.uniform(0.3, 0.65)))
    colour = _colour(product.hue, int(rng.integers(150, 255)), int(rng.integers(150, 240)))
    accent = _colour(product.hue + 60, 200, 240)
    layer = np.zeros_like(image)
    mask: np.ndarray = np.zeros((height, width), np.uint8)
    _SHAPES[product.category.shape](layer, mask, cx, cy, scale, colour, accent, rng)
    tilt = 0.0 if shot == 0 else float(rng.uniform(-25, 25))
    rotation = cv2.getRotationMatrix2D((cx, cy), tilt, 1.0)
    layer = cv2.warpAffine(layer, rotation, (width, height))
    mask = cv2.warpAffine(mask, rotation, (width, height))
    offset = int(scale * 0.05)
    shadow = cv2.blur(np.roll(mask, (offset, offset), (0, 1)), (offset * 2 + 1, offset * 2 + 1))
    image = (image * (1 - shadow[..., None] / 400.0)).astype(np.uint8)
    image[mask > 0] = layer[mask > 0]

    # label band: the short name, and the price on the cover
    font = cv2.FONT_HERSHEY_DUPLEX
    text = product.label if shot else f"{product.label}  {product.pay_price / 100:.0f} RMB"
    size = max(0.6, width / 600 * (1.3 if shot == 0 else float(rng.uniform(0.8, 1.6))))
    (tw, th), _ = cv2.getTextSize(text, font, size, 2)
    x = int((width - tw) / 2) if shot == 0 else int(rng.uniform(10, max(11, width - tw - 10)))
    y = int(height * 0.9) if shot == 0 else int(rng.choice([th + 20, height - 20]))
    cv2.rectangle(image, (x - 10, y - th - 10), (x + tw + 10, y + 12), (255, 255, 255), -1)
    cv2.putText(image, text, (x, y), font, size, (30, 30, 30), 2, cv2.LINE_AA)
    return image


def _draw_video(product: CatalogueProduct, clip: int, seed: int, path: Path) -> None:
    width, height = VIDEO_SIZE
    scene = draw_shot(product, 100 + clip, seed, width * 2, height * 2)  # a tall scene the camera moves over
    still = path.with_suffix(".scene.png")
    cv2.imwrite(str(still), scene)
    frames = int(VIDEO_SECONDS * VIDEO_FPS)
    zoom = f"zoompan=z='1+0.35*on/{frames}':x='(iw-iw/zoom)*on/{frames}':y='(ih-ih/zoom)/2'"
    try:
        command = Command(
            inputs=(Input(str(still), options=("-loop", "1", "-framerate", str(VIDEO_FPS)), duration=VIDEO_SECONDS),),
            outputs=(
                Output(
                    str(path),
                    options=(
                        "-vf",
                        f"{zoom}:d={frames}:s={width}x{height}:fps={VIDEO_FPS},format=yuv420p",
                        "-frames:v",
                        str(frames),
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-crf",
                        "28",
                        "-movflags",
                        "+faststart",
                        "-f",
                        "mp4",
                    ),
                ),
            ),
        )
        run(command, subject=f"product video {product.product_id}", timeout=120)
    finally:
        still.unlink(missing_ok=True)


# -- shapes: each draws the product into ``layer`` (colour) and ``mask`` (where it is) --------------------------


def _fill_poly(layer: np.ndarray, mask: np.ndarray, points: np.ndarray, colour: tuple[int, int, int]) -> None:
    pts = points.astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(layer, [pts], colour, cv2.LINE_AA)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)


def _rect(layer: np.ndarray, mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: BGR) -> None:
    _fill_poly(layer, mask, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), colour)


def _ellipse(layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, ax: float, ay: float, colour: BGR) -> None:
    centre, axes = (int(cx), int(cy)), (max(1, int(ax)), max(1, int(ay)))
    cv2.ellipse(layer, centre, axes, 0, 0, 360, colour, -1, cv2.LINE_AA)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)


def _bottle(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    w = s * rng.uniform(0.28, 0.38)
    _rect(layer, mask, cx - w / 2, cy - s * 0.35, cx + w / 2, cy + s * 0.5, colour)
    _ellipse(layer, mask, cx, cy + s * 0.5, w / 2, w * 0.12, colour)
    _rect(layer, mask, cx - w * 0.4, cy - s * 0.5, cx + w * 0.4, cy - s * 0.33, accent)
    _rect(layer, mask, cx - w / 2, cy + s * 0.05, cx + w / 2, cy + s * 0.15, accent)


def _jar(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    w = s * rng.uniform(0.6, 0.8)
    _rect(layer, mask, cx - w / 2, cy - s * 0.1, cx + w / 2, cy + s * 0.3, colour)
    _ellipse(layer, mask, cx, cy + s * 0.3, w / 2, w * 0.15, colour)
    _rect(layer, mask, cx - w * 0.52, cy - s * 0.3, cx + w * 0.52, cy - s * 0.1, accent)
    _ellipse(layer, mask, cx, cy - s * 0.3, w * 0.52, w * 0.15, accent)


def _chair(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    t = max(3, int(s * 0.05))
    for x0, y0, x1, y1 in ((-0.35, 0.45, 0.3, -0.2), (0.35, 0.45, -0.3, -0.2), (-0.4, -0.1, 0.4, -0.1)):
        p0 = (int(cx + x0 * s), int(cy + y0 * s))
        p1 = (int(cx + x1 * s), int(cy + y1 * s))
        cv2.line(layer, p0, p1, accent, t, cv2.LINE_AA)
        cv2.line(mask, p0, p1, 255, t, cv2.LINE_AA)
    _fill_poly(
        layer,
        mask,
        np.array(
            [
                [cx - 0.4 * s, cy - 0.5 * s],
                [cx + 0.4 * s, cy - 0.5 * s],
                [cx + 0.35 * s, cy - 0.1 * s],
                [cx - 0.35 * s, cy - 0.1 * s],
            ]
        ),
        colour,
    )


def _pods(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    _ellipse(layer, mask, cx, cy + s * 0.2, s * 0.45, s * 0.28, colour)
    _rect(layer, mask, cx - s * 0.45, cy + s * 0.15, cx + s * 0.45, cy + s * 0.2, accent)
    for side in (-1, 1):
        _ellipse(layer, mask, cx + side * s * 0.2, cy - s * 0.3, s * 0.12, s * 0.12, accent)
        _rect(
            layer,
            mask,
            cx + side * s * 0.2 - s * 0.04,
            cy - s * 0.3,
            cx + side * s * 0.2 + s * 0.04,
            cy - s * 0.05,
            accent,
        )


def _box(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    w, h, d = s * rng.uniform(0.6, 0.9), s * rng.uniform(0.4, 0.7), s * 0.18
    _fill_poly(
        layer,
        mask,
        np.array(
            [
                [cx - w / 2, cy - h / 2],
                [cx - w / 2 + d, cy - h / 2 - d],
                [cx + w / 2 + d, cy - h / 2 - d],
                [cx + w / 2, cy - h / 2],
            ]
        ),
        accent,
    )
    _rect(layer, mask, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, colour)
    _fill_poly(
        layer,
        mask,
        np.array(
            [
                [cx + w / 2, cy - h / 2],
                [cx + w / 2 + d, cy - h / 2 - d],
                [cx + w / 2 + d, cy + h / 2 - d],
                [cx + w / 2, cy + h / 2],
            ]
        ),
        (int(colour[0] * 0.7), int(colour[1] * 0.7), int(colour[2] * 0.7)),
    )
    _rect(layer, mask, cx - w * 0.1, cy - h / 2, cx + w * 0.1, cy + h / 2, accent)


def _pillow(
    layer: np.ndarray, mask: np.ndarray, cx: float, cy: float, s: float, colour: BGR, accent: BGR, rng: Gen
) -> None:
    w, h = s * rng.uniform(0.8, 1.0), s * rng.uniform(0.45, 0.6)
    _ellipse(layer, mask, cx, cy, w / 2, h / 2, colour)
    _rect(layer, mask, cx - w * 0.42, cy - h * 0.3, cx + w * 0.42, cy + h * 0.3, colour)
    cv2.ellipse(layer, (int(cx), int(cy)), (int(w * 0.3), int(h * 0.18)), 0, 0, 360, accent, max(2, int(s * 0.02)))


_SHAPES = {"bottle": _bottle, "jar": _jar, "chair": _chair, "pods": _pods, "box": _box, "pillow": _pillow}
