"""Rare classes in the training data: class-balanced image sampling and defect-aware crops.

- **Rare-class sampling** (DAFormer's RCS: Hoyer et al., "DAFormer: Improving Network
  Architectures and Training Strategies for Domain-Adaptive Semantic Segmentation", CVPR 2022):
  with ``f_c`` the share of labelled pixels of class ``c`` over the training masks, a class is
  drawn with ``P(c) = softmax((1 - f_c) / T)`` and then an image holding ``c`` uniformly, so an
  image's probability is ``sum_c P(c) [c in image] / n_c`` (``n_c``: images holding ``c``).
  A small temperature ``T`` favours the rare classes; a large one tends to uniform classes.
- **Defect-aware crops** (the peer is mmseg's ``RandomCrop(cat_max_ratio=...)``): training
  takes crops of the model's input size from the image at its own resolution (a mild random
  scale and a flip), and with probability ``rare_prob`` the crop holds a pixel of a class the
  image contains, drawn with ``P(c)``, instead of shrinking the whole image until a defect is
  a few pixels. Models trained so are evaluated on whole images at the same scale.
  ``crop_scale="auto"`` picks each image's scale so that a crop covers half of it
  (`image_scale`), which keeps the context of a crop and the cost of evaluation the same for
  a 64x64 defect tile and a 4000x3000 photo.

`image_class_counts` reads every mask once; the trainer records the probabilities in the run
directory (``rare_sampling.json``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

__all__ = ["image_class_counts", "class_probabilities", "image_probabilities", "sample_indices", "image_scale",
           "sampling_needed", "defect_free", "RARE_IMAGE_SHARE", "RareCrop"]

GREY = (128, 128, 128)

# `rare_sampling: auto` turns sampling on when a class is held by fewer than this share of the
# training images: then a batch of 8 shows it less than once on average. Above it, uniform
# sampling already shows every class often, and DAFormer's softmax at T = 0.01 would turn a small
# difference in pixel share into a skew between classes that are not rare (two defect classes at
# 2.5 % and 4.3 % of the pixels are drawn 85 : 15), starving the class with more pixels.
RARE_IMAGE_SHARE = 0.10


def image_scale(crop_scale: float | str, image_hw: Sequence[int], input_shape: Sequence[int]) -> float:
    """The factor an image of `image_hw` is resized by before cropping (and evaluation).

    A number is used as it is; ``"auto"`` is the scale at which an `input_shape` crop covers half
    of the image's area, ``sqrt(2 * H * W / (h * w))``, at most 1 (never upsampled): a 360x480
    CamVid image at a 128x160 input is scaled by 0.49, a 64x64 image at 64x64 by 1.
    """
    if crop_scale != "auto":
        return float(crop_scale)
    (h, w), (ch, cw) = image_hw[:2], input_shape
    return min(1.0, (2.0 * ch * cw / max(h * w, 1)) ** 0.5)


def image_class_counts(dataset: Any, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Pixels of each class in each training mask, ``(N, K)`` int64, at the original resolution.

    Reads ``mask_paths`` of a ``VOCSegmentation`` (fast: no image decoding), else ``dataset[i][1]``.
    """
    paths = getattr(dataset, "mask_paths", None)
    if paths is not None:
        from segkit.data.files import read_mask

        masks = (read_mask(p) for p in paths)
    else:
        masks = (np.asarray(dataset[i][1]) for i in range(len(dataset)))
    rows = []
    for m in masks:
        m = np.asarray(m)
        m = m[(m != ignore_index) & (m >= 0) & (m < num_classes)]
        rows.append(np.bincount(m.ravel().astype(np.int64), minlength=num_classes)[:num_classes])
    return np.stack(rows) if rows else np.zeros((0, num_classes), np.int64)


def class_probabilities(counts: np.ndarray, temperature: float) -> np.ndarray:
    """DAFormer's class probabilities ``softmax((1 - f_c) / T)`` over the classes present (0 for absent ones).

    Args:
        counts: ``(N, K)`` pixel counts (`image_class_counts`) or ``(K,)`` totals.
        temperature: ``T > 0``; DAFormer uses 0.01.
    """
    if not temperature > 0:
        raise ValueError(f"rare-class sampling temperature={temperature} must be > 0 (DAFormer uses 0.01)")
    totals = np.asarray(counts, np.float64)
    totals = totals.sum(0) if totals.ndim == 2 else totals
    if totals.sum() <= 0:
        raise ValueError("rare-class sampling: the training masks hold no labelled pixel; check the dataset")
    freq = totals / totals.sum()
    present = totals > 0
    logits = np.where(present, (1.0 - freq) / temperature, -np.inf)
    p = np.exp(logits - logits[present].max())
    return p / p.sum()


def sampling_needed(counts: np.ndarray, class_names: Sequence[str],
                    share: float = RARE_IMAGE_SHARE) -> tuple[bool, str]:
    """Whether rare-class sampling is worth turning on for these training masks, and why (one line).

    On when a class present in the training masks is held by fewer than `share` of the images.

    Args:
        counts: ``(N, K)`` pixel counts per image (`image_class_counts`).
        class_names: the ``K`` names, for the reason.
        share: the threshold (`RARE_IMAGE_SHARE`).
    """
    holds = np.asarray(counts) > 0
    if holds.shape[0] == 0:
        return False, "no training image"
    image_share = holds.mean(0)
    present = np.flatnonzero(holds.any(0))
    rarest = present[np.argmin(image_share[present])]
    seen = f"the rarest class, {class_names[rarest]}, is in {100 * image_share[rarest]:.0f} % of the training images"
    if image_share[rarest] < share:
        return True, f"on: {seen} (under {100 * share:.0f} %)"
    return False, f"off: {seen} (at least {100 * share:.0f} %: uniform sampling shows every class often)"


def image_probabilities(counts: np.ndarray, class_probs: np.ndarray) -> np.ndarray:
    """Each image's probability ``sum_c P(c) [c in image] / n_c`` (sums to 1), with the defect-free
    images (labelled with the first class only) drawn half as often as they occur.

    DAFormer's draw almost never picks the first class (the background holds most pixels), so on
    a defect set its defect-free images would never be shown and the model would mark defects on
    every one of them (the magnetic tiles: 71 % of the training images are free); at half their natural
    share the model sees them, and the defects still get most draws. Without such images the
    probabilities are DAFormer's.
    """
    holds = np.asarray(counts) > 0  # (N, K)
    n_c = holds.sum(0)
    per_class = np.divide(class_probs, n_c, out=np.zeros_like(class_probs, dtype=np.float64), where=n_c > 0)
    p = holds @ per_class
    p = p / p.sum()
    free = defect_free(counts)
    if free.any() and not free.all():
        share = free.mean() / 2
        p = np.where(free, share / free.sum(), (1 - share) * p / p[~free].sum())
    return p / p.sum()


def defect_free(counts: np.ndarray) -> np.ndarray:
    """Which images hold labelled pixels of the first class (the background) and of no other."""
    holds = np.asarray(counts) > 0
    return holds[:, 0] & ~holds[:, 1:].any(1)


def sample_indices(image_probs: np.ndarray, n: int, seed: int) -> list[int]:
    """`n` image indices drawn with replacement from `image_probs` (same seed, same draw)."""
    rng = np.random.default_rng(seed)
    return rng.choice(len(image_probs), size=n, replace=True, p=image_probs).tolist()


class RareCrop:
    """A crop of `input_shape` from the image at its own resolution that holds a rare class with a set probability.

    Steps: a random scale in `scale`, a horizontal flip (p = 0.5), then with probability
    `rare_prob` a crop placed uniformly among those holding a random pixel of a class drawn
    from `class_probs` among the classes the image holds, otherwise a uniform crop. An image
    smaller than the crop is padded (grey, `mask_fill`).

    Args:
        input_shape: ``(H, W)`` of the crop.
        class_probs: ``(K,)`` class probabilities (`class_probabilities`).
        rare_prob: probability that the crop is placed on a drawn class (0..1).
        scale: range of the random factor applied on top of `crop_scale`.
        mask_fill: mask value of padding (255 = void).
        crop_scale: the image's base scale (a number, or ``"auto"``: see `image_scale`).
    """

    def __init__(self, input_shape: Sequence[int], class_probs: Sequence[float], rare_prob: float = 0.5,
                 scale: tuple[float, float] = (0.75, 1.25), mask_fill: int = 255,
                 crop_scale: float | str = 1.0) -> None:
        if not 0 <= rare_prob <= 1:
            raise ValueError(f"crop_rare_prob={rare_prob} must be a probability in [0, 1]")
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        self.class_probs = np.asarray(class_probs, np.float64)
        self.rare_prob, self.scale, self.mask_fill = float(rare_prob), tuple(scale), int(mask_fill)
        self.crop_scale = crop_scale

    def __call__(self, image: Image.Image | np.ndarray, mask: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb uint8 (H, W, 3), mask uint8 (H, W))`` drawn with `rng`."""
        img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
        s = rng.uniform(*self.scale) * image_scale(self.crop_scale, img.size[::-1], self.input_shape)
        rgb, mask = self._scaled(img, mask, s)
        if rng.random() < 0.5:
            rgb, mask = rgb[:, ::-1], mask[:, ::-1]
        rgb, mask = self._pad(rgb, mask)
        return self._cut(rgb, mask, *self._corner(mask, rng))

    def _scaled(self, img: Image.Image, mask: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
        if s != 1.0:
            size = (max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s)))
            img = img.resize(size, Image.BILINEAR)
            mask = np.asarray(Image.fromarray(np.asarray(mask, np.uint8)).resize(size, Image.NEAREST))
        return np.asarray(img, np.uint8), np.asarray(mask, np.uint8)

    def _cut(self, rgb: np.ndarray, mask: np.ndarray, top: int, left: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.input_shape
        return np.ascontiguousarray(rgb[top:top + h, left:left + w]), np.ascontiguousarray(mask[top:top + h, left:left + w])

    def examples(self, image, mask, seeds: Sequence[int] = (0, 1)) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The same image under each step alone, then whole random draws (as ``TrainAugment.examples``).

        Names: "base" (the whole image at its base scale), "scale_min", "scale_max" (centre crops),
        "flip", "crop_rare" (a crop placed on a rare-class pixel), "crop_uniform", then "draw" per seed.
        """
        img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
        base = image_scale(self.crop_scale, img.size[::-1], self.input_shape)
        h, w = self.input_shape

        def centre(s: float, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
            rgb, m = self._pad(*self._scaled(img, mask, s))
            if flip:
                rgb, m = rgb[:, ::-1], m[:, ::-1]
            return self._cut(rgb, m, (m.shape[0] - h) // 2, (m.shape[1] - w) // 2)

        whole = self._pad(*self._scaled(img, mask, base))
        out = [("base", *whole), ("scale_min", *centre(base * self.scale[0])),
               ("scale_max", *centre(base * self.scale[1])), ("flip", *centre(base, flip=True))]
        for name, p in (("crop_rare", 1.0), ("crop_uniform", 0.0)):
            out.append((name, *self._cut(*whole, *self._corner(whole[1], np.random.default_rng(0), rare_prob=p))))
        out += [("draw", *self(img, mask, np.random.default_rng(seed))) for seed in seeds]
        return out

    def _corner(self, mask: np.ndarray, rng: np.random.Generator, rare_prob: float | None = None) -> tuple[int, int]:
        """Top-left corner: on a drawn class's pixel with probability `rare_prob` (default: the
        transform's), else uniform."""
        h, w = self.input_shape
        big_h, big_w = mask.shape
        if rng.random() < (self.rare_prob if rare_prob is None else rare_prob):
            k = len(self.class_probs)
            held = np.bincount(mask[mask < k].ravel(), minlength=k)[:k] > 0
            p = np.where(held, self.class_probs, 0.0)
            if p.sum() > 0:
                c = rng.choice(k, p=p / p.sum())
                ys, xs = np.nonzero(mask == c)
                j = rng.integers(len(ys))
                # a uniform window over the pixel, clamped to the image (it still holds the pixel)
                top = int(np.clip(ys[j] - rng.integers(h), 0, big_h - h))
                left = int(np.clip(xs[j] - rng.integers(w), 0, big_w - w))
                return top, left
        return int(rng.integers(big_h - h + 1)), int(rng.integers(big_w - w + 1))

    def _pad(self, rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.input_shape
        ph, pw = max(0, h - rgb.shape[0]), max(0, w - rgb.shape[1])
        if ph == 0 and pw == 0:
            return rgb, mask
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), constant_values=GREY[0])
        return rgb, np.pad(mask, ((0, ph), (0, pw)), constant_values=self.mask_fill)

    def __repr__(self) -> str:
        return (f"RareCrop(input_shape={self.input_shape}, rare_prob={self.rare_prob}, scale={self.scale}, "
                f"crop_scale={self.crop_scale!r})")
