"""Labelme JSON polygons to palette PNG masks."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from ..colors import save_mask
from ..files import DatasetError, read_image


def _read_labelme(json_path: Path) -> dict:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read Labelme file {json_path} ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{json_path} is not a Labelme annotation (a JSON object with 'shapes')")
    return data


def _labelme_image_path(json_path: Path, data: dict, allow_outside: bool) -> Path | None:
    """The file ``imagePath`` names (relative to the JSON's folder), refused outside that folder."""
    name = str(data.get("imagePath") or "").replace("\\", "/")  # Labelme on Windows writes backslashes
    if not name:
        return None
    folder = json_path.parent.resolve()
    path = (folder / name).resolve()
    if not allow_outside and not path.is_relative_to(folder):
        raise DatasetError(
            f"{json_path}: imagePath {name!r} points outside the annotation folder {folder} (to {path}); "
            "move the image next to the JSON, or allow it explicitly (allow_outside=True, "
            "`segkit data labelme --allow-outside`)")
    return path


def _open_labelme_image(json_path: Path, data: dict, allow_outside: bool) -> Image.Image | None:
    """The annotated image, opened lazily (header only): ``imagePath`` when it exists, else ``imageData``."""
    path = _labelme_image_path(json_path, data, allow_outside)
    try:
        if path is not None and path.is_file():
            return Image.open(path)
        if data.get("imageData"):
            return Image.open(io.BytesIO(base64.b64decode(data["imageData"])))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{json_path}: cannot read its image ({exc})") from None
    return None


def _labelme_size(json_path: Path, data: dict, image: Image.Image | None) -> tuple[int, int]:
    """``(h, w)`` to rasterise at, checked against the real image before anything is allocated."""
    h, w = data.get("imageHeight"), data.get("imageWidth")
    if image is not None:
        iw, ih = image.size
        if (h or w) and (h, w) != (ih, iw):
            raise DatasetError(f"{json_path}: the JSON says {w}x{h} (imageWidth x imageHeight) but the image is "
                               f"{iw}x{ih}; re-save the annotation with Labelme")
        return ih, iw
    if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
        raise DatasetError(f"{json_path} has no valid imageHeight/imageWidth ({h!r}, {w!r}) and no readable image; "
                           "re-save it with Labelme")
    if h * w > Image.MAX_IMAGE_PIXELS:  # PIL's own limit for image files (decompression bombs)
        raise DatasetError(f"{json_path} claims a {w}x{h} image ({h * w / 1e6:.0f} Mpixel) and its image cannot be "
                           "read to confirm it; put the image next to the JSON")
    return h, w


def labelme_to_mask(
    json_path: str | Path, class_names: Sequence[str], skip_unknown: bool = False, allow_outside: bool = False,
) -> np.ndarray:
    """Rasterise a Labelme JSON annotation into a uint8 class-index mask.

    Shapes are drawn in file order (later shapes on top). Supported ``shape_type``:
    polygon, rectangle, circle, line, linestrip, point. Labels are matched to
    `class_names` (index = class id; ``_background_``/``background`` map to 0). The size
    ``imageHeight`` x ``imageWidth`` is checked against the image (``imagePath``, else the
    embedded ``imageData``) before the mask is allocated.

    Args:
        json_path: the Labelme file.
        class_names: class names, background first.
        skip_unknown: ignore shapes whose label is not a class (default: an error).
        allow_outside: read an ``imagePath`` outside the JSON's folder (``../x.jpg``, an
            absolute path); refused by default.

    Raises:
        DatasetError: unreadable JSON, a size that disagrees with the image, an
            ``imagePath`` outside the folder, or an unknown label.
    """
    json_path = Path(json_path)
    data = _read_labelme(json_path)
    image = _open_labelme_image(json_path, data, allow_outside)
    h, w = _labelme_size(json_path, data, image)
    if image is not None:
        image.close()
    lookup = {n: i for i, n in enumerate(class_names)}
    lookup.setdefault("_background_", 0)
    lookup.setdefault("background", 0)
    im = Image.new("L", (int(w), int(h)), 0)
    draw = ImageDraw.Draw(im)
    for shape in data.get("shapes", []):
        label = shape.get("label", "")
        if label not in lookup:
            if skip_unknown:
                continue
            raise DatasetError(f"label {label!r} in {json_path} is not one of the classes {list(class_names)}; "
                               "add it to classes.txt / --classes or pass skip_unknown=True")
        v = lookup[label]
        pts = [tuple(map(float, p)) for p in shape.get("points", [])]
        kind = shape.get("shape_type") or "polygon"
        if kind == "polygon" and len(pts) >= 3:
            draw.polygon(pts, fill=v, outline=v)
        elif kind == "rectangle" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=v)
        elif kind == "circle" and len(pts) == 2:
            (cx, cy), (px, py) = pts
            r = float(np.hypot(px - cx, py - cy))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=v)
        elif kind in ("line", "linestrip") and len(pts) >= 2:
            draw.line(pts, fill=v, width=max(1, int(shape.get("width", 3) or 3)))
        elif kind == "point" and pts:
            x, y = pts[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=v)
    return np.asarray(im, np.uint8)


def convert_labelme(
    src: str | Path, root: str | Path, class_names: Sequence[str], skip_unknown: bool = False,
    allow_outside: bool = False,
) -> list[str]:
    """Convert a folder of Labelme JSON files (+ images) into a VOC-layout dataset.

    Writes ``JPEGImages/<stem>.jpg`` (from ``imagePath`` next to the JSON, else the
    embedded ``imageData``), ``SegmentationClass/<stem>.png`` and ``classes.txt``.
    An ``imagePath`` outside `src` is refused unless `allow_outside`.

    Returns:
        The converted names.
    """
    src, root = Path(src), Path(root)
    files = sorted(src.glob("*.json"))
    if not files:
        raise DatasetError(f"no Labelme *.json files in {src}")
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    done = []
    for jf in files:
        data = _read_labelme(jf)
        mask = labelme_to_mask(jf, class_names, skip_unknown, allow_outside)
        img_path = _labelme_image_path(jf, data, allow_outside)
        if img_path is not None and img_path.is_file():
            img = read_image(img_path)
        elif data.get("imageData"):
            img = ImageOps.exif_transpose(Image.open(io.BytesIO(base64.b64decode(data["imageData"])))).convert("RGB")
        else:
            raise DatasetError(f"{jf}: image {img_path} not found and no imageData embedded")
        img.save(root / "JPEGImages" / f"{jf.stem}.jpg", quality=95)
        save_mask(mask, root / "SegmentationClass" / f"{jf.stem}.png")
        done.append(jf.stem)
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in class_names), encoding="utf-8")
    return done
