"""Training images: random crops and flips from a folder, deterministic per step.

Every sample is addressed by (file index, seed); the seed comes from the global step, so a
resumed run sees exactly the batches an uninterrupted run would have seen, whatever the
number of DataLoader workers.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Sampler

from stylecam.io import IMAGE_SUFFIXES


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images (.jpg/.png/...) in {folder}")
    return files


def load_rgb(path: str | Path, max_side: int | None = None) -> Image.Image:
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.LANCZOS)
    return img


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> 3,H,W float in 0..255."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32).transpose(2, 0, 1).copy())


class CropDataset(Dataset):
    """Item (index, seed) -> a random square crop of `size` px, randomly flipped."""

    def __init__(self, folder: str | Path, size: int):
        self.files = list_images(folder)
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        index, seed = item
        return random_crop(load_rgb(self.files[index]), self.size, random.Random(seed))


def random_crop(img: Image.Image, size: int, rng: random.Random) -> torch.Tensor:
    """A random square crop of `size` px, randomly flipped: the image is first scaled so its
    short side is between the crop size and 1.25x of it."""
    w, h = img.size
    short = size * rng.uniform(1.0, 1.25)
    scale = short / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = img.size
    x, y = rng.randint(0, w - size), rng.randint(0, h - size)
    img = img.crop((x, y, x + size, y + size))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(img)


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields the batches for steps start..total-1 of this rank, as (index, seed) lists.

    Files are visited in a fresh permutation each epoch (seeded by seed+epoch); rank r of
    `world` takes every world-th sample so DDP ranks see disjoint data.
    """

    def __init__(self, num_files: int, batch_size: int, total_steps: int, seed: int,
                 start_step: int = 0, rank: int = 0, world: int = 1):
        self.num_files, self.batch_size, self.total_steps = num_files, batch_size, total_steps
        self.seed, self.start_step, self.rank, self.world = seed, start_step, rank, world

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def batch_for_step(self, step: int) -> list[tuple[int, int]]:
        batch = []
        for slot in range(self.batch_size):
            k = (step * self.batch_size + slot) * self.world + self.rank  # global sample number
            epoch, pos = divmod(k, self.num_files)
            perm = self._permutation(epoch)
            batch.append((int(perm[pos]), (self.seed * 1_000_003 + k) & 0x7FFFFFFF))
        return batch

    def _permutation(self, epoch: int) -> np.ndarray:
        if getattr(self, "_epoch", None) != epoch:
            self._epoch, self._perm = epoch, np.random.default_rng(self.seed + epoch).permutation(self.num_files)
        return self._perm

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch_for_step(step)
