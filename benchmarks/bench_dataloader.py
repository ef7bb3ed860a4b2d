"""Training-pipeline throughput: segkit's reference augmentation vs a torchvision v2 peer.

Measures images/s through a `DataLoader` (decode JPEG + PNG, augment, to tensors,
collate) at 512x512, with 0 and 2 workers, for

* ``segkit``: `VOCSegmentation(augment=True)` = the reference recipe (aspect jitter,
  scale 0.25-2, bicubic/nearest resize, flip, grey paste, blur p=.25, rotation p=.25,
  HSV LUT jitter);
* ``tv2``: torchvision.transforms.v2 ``RandomResizedCrop(512, scale=(0.25, 1)) +
  RandomHorizontalFlip + ColorJitter(0.3, 0.3, 0.7, 0.1)`` on (image, Mask) pairs, a
  comparable generic pipeline.

Usage::

    .venv/bin/python benchmarks/bench_dataloader.py [--n-images 48] [--size 512] [--repeats 3]

Prints the median images/s of `--repeats` full passes and the segkit/tv2 ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from segkit.data import VOCSegmentation, make_synthetic_wirerope


class TV2Pairs(Dataset):
    """The same files through a torchvision.transforms.v2 pipeline."""

    def __init__(self, ds: VOCSegmentation, size: int) -> None:
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        self.ds, self.tv_tensors = ds, tv_tensors
        self.tf = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.7, hue=0.1),
            v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
        ])

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        img = np.array(Image.open(self.ds.image_paths[i]).convert("RGB"))
        mask = np.asarray(Image.open(self.ds.mask_paths[i]))
        image = self.tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1))  # HWC -> CHW
        target = self.tv_tensors.Mask(torch.from_numpy(mask.astype(np.int64)))
        return self.tf(image, target)


def throughput(ds: Dataset, workers: int, batch_size: int, repeats: int) -> float:
    rates = []
    for r in range(repeats):
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(r)
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers, drop_last=False)
        t0 = time.perf_counter()
        n = 0
        for x, y in loader:
            n += x.shape[0]
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=48)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    ap.add_argument("--root", default=None, help="existing VOC dataset (default: synthetic in a temp dir)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else make_synthetic_wirerope(
            Path(tmp) / "wr", n_images=args.n_images, size=args.size, seed=0, val_fraction=0.0)
        ds = VOCSegmentation(root, "train", input_shape=(args.size, args.size), augment=True, seed=0)
        peer = TV2Pairs(ds, args.size)
        print(f"{len(ds)} images, output {args.size}x{args.size}, batch {args.batch_size}, "
              f"torch {torch.__version__}, cpus {os.cpu_count()}, median of {args.repeats} passes")
        print(f"{'workers':>7s} {'segkit img/s':>13s} {'tv2 img/s':>10s} {'segkit/tv2':>11s}")
        for w in args.workers:
            a = throughput(ds, w, args.batch_size, args.repeats)
            b = throughput(peer, w, args.batch_size, args.repeats)
            print(f"{w:7d} {a:13.1f} {b:10.1f} {a / b:11.2f}")


if __name__ == "__main__":
    main()
