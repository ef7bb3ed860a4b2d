"""Paired image/mask transforms of the reference pipeline (``docs/training.md``, data).

* `letterbox` / `letterbox_mask`: aspect-preserving BICUBIC resize centred on a grey
  canvas (validation and inference), with a `LetterboxInfo` that maps a prediction back
  to the original image (crop the unpadded region, resize to the original size).
* `TrainAugment`: the reference's ``get_random_data(random=True)``: aspect jitter, scale
  0.25-2, BICUBIC/NEAREST resize, horizontal flip, grey paste/crop, Gaussian blur,
  small rotation, HSV jitter, in that order.

Masks are handled as uint8 arrays where 255 marks void; the dataset converts void to
its ``ignore_index`` at the end. Padding areas of the mask get ``mask_fill``: by default 255
(void), so the loss and the metrics ignore the bars and the canvas; 0 labels them background
as the reference does (which teaches class 0 on grey padding).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["LetterboxInfo", "letterbox", "letterbox_mask", "TrainAugment", "to_tensor_pair"]

GREY = (128, 128, 128)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"size must be an int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class LetterboxInfo:
    """Geometry of one letterbox: how the original image sits on the canvas.

    Attributes:
        scale: resize factor applied to the original image.
        offset: ``(dy, dx)`` top-left corner of the resized image on the canvas.
        resized: ``(nh, nw)`` size of the resized image.
        original: ``(h, w)`` of the original image.
        canvas: ``(H, W)`` of the canvas (the network input size).
    """

    scale: float
    offset: tuple[int, int]
    resized: tuple[int, int]
    original: tuple[int, int]
    canvas: tuple[int, int]

    def crop(self, pred):
        """Cut the unpadded region out of a canvas-sized prediction.

        Args:
            pred: numpy array or tensor whose last two dims are the canvas ``(H, W)``,
                e.g. logits ``(B,K,H,W)``, probabilities ``(K,H,W)`` or labels ``(H,W)``.

        Returns:
            The same type, last two dims ``resized`` = ``(nh, nw)``.
        """
        if tuple(pred.shape[-2:]) != self.canvas:
            raise ValueError(f"pred must end with the canvas size {self.canvas}, got shape {tuple(pred.shape)}")
        dy, dx = self.offset
        nh, nw = self.resized
        return pred[..., dy:dy + nh, dx:dx + nw]

    def restore(self, pred, mode: str = "bilinear"):
        """Crop the unpadded region and resize it to the original ``(h, w)``.

        This is the reference's evaluation path (docs/training.md): crop the softmax map,
        resize it bilinearly to the original size, then argmax.

        Args:
            pred: tensor ``(B,K,H,W)``/``(K,H,W)`` of scores (``mode="bilinear"``), or a
                label map ``(H,W)``/``(B,H,W)`` tensor or numpy array (use ``mode="nearest"``).
            mode: ``"bilinear"`` for scores/probabilities, ``"nearest"`` for labels.

        Returns:
            Same type as `pred`, last two dims = ``original``.
        """
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
        cropped = self.crop(pred)
        h, w = self.original
        if isinstance(pred, np.ndarray):
            interp = cv2.INTER_LINEAR if mode == "bilinear" else cv2.INTER_NEAREST_EXACT
            flat = cropped.reshape(-1, *cropped.shape[-2:])  # (N,nh,nw)
            dtype = flat.dtype
            work = flat.astype(np.float32) if mode == "bilinear" or dtype == np.int64 else flat
            out = np.stack([cv2.resize(np.ascontiguousarray(c), (w, h), interpolation=interp) for c in work])
            return out.astype(dtype).reshape(*cropped.shape[:-2], h, w)
        x = cropped
        lead = x.shape[:-2]
        x4 = x.reshape(-1, 1, *x.shape[-2:]) if mode == "nearest" or x.dim() < 3 else x.reshape(-1, *x.shape[-3:])
        if mode == "nearest":
            out = F.interpolate(x4.float(), size=(h, w), mode="nearest-exact").to(x.dtype)
        else:
            out = F.interpolate(x4.float(), size=(h, w), mode="bilinear", align_corners=False).to(x.dtype)
        return out.reshape(*lead, h, w)


def letterbox(rgb, size: int | Sequence[int], fill: tuple[int, int, int] = GREY) -> tuple[np.ndarray, LetterboxInfo]:
    """Aspect-preserving BICUBIC resize of `rgb` centred on a grey canvas of `size`.

    Args:
        rgb: uint8 ``(h, w, 3)`` array or PIL image.
        size: canvas size, int or ``(H, W)``.
        fill: canvas colour.

    Returns:
        ``(canvas uint8 (H, W, 3), LetterboxInfo)``.
    """
    H, W = _hw(size)
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.asarray(rgb, np.uint8))
    iw, ih = img.size
    scale = min(W / iw, H / ih)
    nw, nh = max(1, int(iw * scale)), max(1, int(ih * scale))  # the reference truncates
    dx, dy = (W - nw) // 2, (H - nh) // 2
    canvas = Image.new("RGB", (W, H), tuple(fill))
    canvas.paste(img.convert("RGB").resize((nw, nh), Image.BICUBIC), (dx, dy))
    info = LetterboxInfo(scale=scale, offset=(dy, dx), resized=(nh, nw), original=(ih, iw), canvas=(H, W))
    return np.asarray(canvas, dtype=np.uint8), info


def letterbox_mask(mask: np.ndarray, info: LetterboxInfo, fill: int = 255) -> np.ndarray:
    """Apply the letterbox of `info` to a uint8 mask (NEAREST resize, padding = `fill`, default 255 = void)."""
    if tuple(mask.shape[:2]) != info.original:
        raise ValueError(f"mask shape {mask.shape[:2]} does not match the letterboxed image {info.original}")
    H, W = info.canvas
    nh, nw = info.resized
    dy, dx = info.offset
    out = np.full((H, W), fill, np.uint8)
    out[dy:dy + nh, dx:dx + nw] = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((nw, nh), Image.NEAREST))
    return out


class TrainAugment:
    """The reference's random training transform on a ``(PIL RGB image, uint8 mask)`` pair.

    Steps (docs/training.md): aspect jitter ``iw/ih * U(1-j,1+j)/U(1-j,1+j)``; scale
    ``U(0.25, 2)``; BICUBIC (image) / NEAREST (mask) resize; horizontal flip p=0.5;
    paste at a random offset onto an ``input_shape`` canvas (grey / `mask_fill`, negative
    offsets crop); Gaussian blur 5x5 with p=`blur_p`; rotation by an integer angle in
    [-10, 10] with p=`rotate_p` (bicubic + grey border / nearest + `mask_fill` border);
    HSV jitter through lookup tables.

    Args:
        input_shape: ``(H, W)`` output size.
        jitter: aspect-ratio jitter (0.3 in the reference).
        scale: range of the random scale.
        hue, sat, val: HSV gain amplitudes (0.1, 0.7, 0.3).
        blur_p: probability of the 5x5 Gaussian blur (0 = older framework versions).
        rotate_p: probability of the rotation (0 = older framework versions).
        max_angle: largest rotation in degrees.
        mask_fill: mask value for padding and rotation borders (255 = void, ignored by
            the loss; 0 = the reference's background).
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (512, 512),
        jitter: float = 0.3,
        scale: tuple[float, float] = (0.25, 2.0),
        hue: float = 0.1,
        sat: float = 0.7,
        val: float = 0.3,
        blur_p: float = 0.25,
        rotate_p: float = 0.25,
        max_angle: int = 10,
        mask_fill: int = 255,
    ) -> None:
        self.input_shape = _hw(input_shape)
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (lo, hi) with 0 < lo <= hi, got {scale}")
        if not 0 <= mask_fill <= 255:
            raise ValueError(f"mask_fill must be a uint8 label (0..255), got {mask_fill}")
        self.jitter, self.scale = jitter, scale
        self.hsv = np.array([hue, sat, val])
        self.blur_p, self.rotate_p, self.max_angle = blur_p, rotate_p, max_angle
        self.mask_fill = mask_fill

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rgb uint8 (H,W,3), mask uint8 (H,W))`` drawn with `rng`.

        `image` may be a PIL image or a uint8 ``(h, w, 3)`` array; `mask` is uint8 ``(h, w)``
        with void = 255.
        """
        image, mask = self._check(image, mask)
        h, w = self.input_shape
        iw, ih = image.size
        rand = rng.random  # U(0,1); all draws happen in a fixed order
        j = self.jitter
        new_ar = iw / ih * (rand() * 2 * j + 1 - j) / (rand() * 2 * j + 1 - j)
        s = rand() * (self.scale[1] - self.scale[0]) + self.scale[0]
        img, lab = self.resize(image, mask, new_ar, s)
        if rand() < 0.5:
            img, lab = self.flip(img, lab)
        nw, nh = img.size
        dx = int(rand() * (w - nw))  # U(0, w-nw); negative when the image is larger (crop)
        dy = int(rand() * (h - nh))
        rgb, lab_np = self.paste(img, lab, dx, dy)
        if rand() < self.blur_p:
            rgb = self.blur(rgb)
        if rand() < self.rotate_p:
            rgb, lab_np = self.rotate(rgb, lab_np, int(rng.integers(-self.max_angle, self.max_angle + 1)))
        return self.hsv_jitter(rgb, rng.uniform(-1, 1, 3) * self.hsv + 1), lab_np

    # The steps, in the order __call__ applies them (each one alone: `examples`).
    def _check(self, image, mask) -> tuple[Image.Image, np.ndarray]:
        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.asarray(image, np.uint8))
        mask = np.asarray(mask, np.uint8)
        if mask.shape != (image.size[1], image.size[0]):
            raise ValueError(f"mask shape {mask.shape} does not match the image size (h, w) = "
                             f"{(image.size[1], image.size[0])}")
        return image, mask

    def resize(self, image: Image.Image, mask: np.ndarray, new_ar: float, s: float) -> tuple[Image.Image, Image.Image]:
        """Resize to aspect ratio `new_ar` at scale `s` of the input size (BICUBIC image, NEAREST mask)."""
        h, w = self.input_shape
        if new_ar < 1:
            nh = int(s * h)
            nw = int(nh * new_ar)
        else:
            nw = int(s * w)
            nh = int(nw / new_ar)
        nw, nh = max(nw, 1), max(nh, 1)
        return image.resize((nw, nh), Image.BICUBIC), Image.fromarray(np.asarray(mask, np.uint8)).resize((nw, nh),
                                                                                                     Image.NEAREST)

    @staticmethod
    def flip(img: Image.Image, lab: Image.Image) -> tuple[Image.Image, Image.Image]:
        """Mirror both left to right."""
        return img.transpose(Image.FLIP_LEFT_RIGHT), lab.transpose(Image.FLIP_LEFT_RIGHT)

    def paste(self, img: Image.Image, lab: Image.Image, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
        """Paste at (dx, dy) on the grey input-size canvas (mask: `mask_fill`); negative offsets crop."""
        h, w = self.input_shape
        canvas = Image.new("RGB", (w, h), GREY)
        canvas_m = Image.new("L", (w, h), self.mask_fill)
        canvas.paste(img, (dx, dy))
        canvas_m.paste(lab, (dx, dy))
        return np.array(canvas, np.uint8), np.array(canvas_m, np.uint8)

    @staticmethod
    def blur(rgb: np.ndarray) -> np.ndarray:
        """5x5 Gaussian blur."""
        return cv2.GaussianBlur(rgb, (5, 5), 0)

    def rotate(self, rgb: np.ndarray, lab: np.ndarray, angle: int) -> tuple[np.ndarray, np.ndarray]:
        """Rotate by `angle` degrees about the centre (bicubic + grey border / nearest + `mask_fill`)."""
        h, w = self.input_shape
        M = cv2.getRotationMatrix2D((w // 2, h // 2), -angle, 1.0)
        return (cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_CUBIC, borderValue=GREY),
                cv2.warpAffine(lab, M, (w, h), flags=cv2.INTER_NEAREST, borderValue=int(self.mask_fill)))

    @staticmethod
    def hsv_jitter(rgb: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Multiply hue, saturation and value by the gains `r` through lookup tables (hue wraps at 180)."""
        hue, sat, val = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))
        x = np.arange(0, 256, dtype=r.dtype)
        lut_hue = ((x * r[0]) % 180).astype(np.uint8)
        lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
        lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
        hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    def examples(self, image, mask, seeds: Sequence[int] = (0, 1)) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The same image under each step alone at the end of its range, then whole random draws.

        Each step starts from the image resized to the input size (aspect kept, centred); the
        names are keys for labels: "input", "aspect", "scale_min", "scale_max", "flip", "blur",
        "rotate", "hsv", then "draw" per seed.

        Returns:
            ``[(name, rgb uint8 (H,W,3), mask uint8 (H,W))]``.
        """
        image, mask = self._check(image, mask)
        h, w = self.input_shape
        ar = image.size[0] / image.size[1]

        def centred(new_ar: float, s: float, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
            img, lab = self.resize(image, mask, new_ar, s)
            if flip:
                img, lab = self.flip(img, lab)
            return self.paste(img, lab, (w - img.size[0]) // 2, (h - img.size[1]) // 2)

        base = centred(ar, 1.0)
        out = [("input", *base), ("aspect", *centred(ar * (1 + self.jitter) / (1 - self.jitter), 1.0)),
               ("scale_min", *centred(ar, self.scale[0])), ("scale_max", *centred(ar, self.scale[1])),
               ("flip", *centred(ar, 1.0, flip=True))]
        if self.blur_p > 0:
            out.append(("blur", self.blur(base[0]), base[1]))
        if self.rotate_p > 0:
            out.append(("rotate", *self.rotate(*base, self.max_angle)))
        out.append(("hsv", self.hsv_jitter(base[0], self.hsv + 1), base[1]))
        out += [("draw", *self(image, mask, np.random.default_rng(seed))) for seed in seeds]
        return out

    def __repr__(self) -> str:
        return (f"TrainAugment(input_shape={self.input_shape}, jitter={self.jitter}, scale={self.scale}, "
                f"hsv={tuple(self.hsv)}, blur_p={self.blur_p}, rotate_p={self.rotate_p}, mask_fill={self.mask_fill})")


def to_tensor_pair(rgb: np.ndarray, mask: np.ndarray, ignore_index: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``(H,W,3)`` + uint8 mask (void 255) -> float ``(3,H,W)`` in [0,1] + int64 ``(H,W)``."""
    image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)  # HWC -> CHW
    target = torch.from_numpy(mask.astype(np.int64))
    if ignore_index != 255:
        target[target == 255] = ignore_index
    return image, target
