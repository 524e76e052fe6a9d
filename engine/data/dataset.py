"""Training samples: top-down person crops with keypoint-aware augmentation and heatmap targets.

Every sample is one person: the crop (``engine.geometry.Crop``) around the box, augmented
(flip with left/right swap, scale, rotation, shift, colour, grey, crops that keep only the
lower body as video frames often do, and the person pasted by its segmentation onto a
background cut from a training image drawn at random), and its targets from
``engine.codec.HeatmapCodec``.
Augmentation randomness is drawn from (seed, epoch, index) alone, so a run is reproducible
whatever the number of workers or processes, and a resumed run repeats the same samples.
``PoseBalancedSampler`` draws people in inverse proportion to how common their knee bend is,
so that deep squats, rare among the training people, are seen as often as standing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from engine import geometry
from engine.codec import HeatmapCodec
from .coco import Person, segmentation_mask
from engine.geometry import Crop
from engine.joints import FLIP_INDEX, NUM_JOINTS, V_OCCLUDED


@dataclass(frozen=True)
class Augment:
    """Augmentation settings (probabilities and ranges). ``Augment.none()`` for evaluation."""

    flip: float = 0.5
    scale: tuple[float, float] = (0.75, 1.35)  # multiplies the crop size
    rotation: float = 30.0  # max degrees either way
    rotation_p: float = 0.5
    shift: float = 0.08  # max centre shift, fraction of the crop size
    color: float = 0.3  # brightness / contrast / saturation jitter
    gray: float = 0.1  # probability of a black-and-white crop
    lower_body: float = 0.25  # probability of a crop around the lower body only
    #: probability of a zoomed-out crop (the person small in it, as in the video search's
    #: whole-frame and window passes), its size multiplied by a factor in ``zoom_out_scale``
    zoom_out: float = 0.15
    zoom_out_scale: tuple[float, float] = (1.5, 3.0)
    #: probability of a crop beside every annotated person of the image, with an all-zero
    #: target at full weight: it teaches the model that a fan, a chair leg or a wall holds no
    #: joints, which the search needs to find the athlete without a person detector
    background: float = 0.2
    #: probability of a close-up on part of the person (the crop shrunk by ``part_scale`` about
    #: one labelled joint), with ``absent_outside``: the joints left outside the crop are
    #: trained as absent (zero target), not ignored, so that a close crop on a foot does not
    #: yield a whole tiny skeleton that the video tracker would then follow
    part: float = 0.1
    part_scale: tuple[float, float] = (0.3, 0.6)
    absent_outside: bool = True
    #: probability of pasting the person, by its ``segmentation`` (COCO polygons, or the
    #: teacher's mask in pseudo-labels), onto a backdrop cut from a training image drawn at
    #: random (the dataset's ``backdrops``; now and then the person's own): the clips show a
    #: few rooms only. People without a segmentation are never pasted.
    paste: float = 0.0

    @classmethod
    def none(cls) -> "Augment":
        return cls(flip=0.0, scale=(1.0, 1.0), rotation=0.0, rotation_p=0.0, shift=0.0, color=0.0,
                   gray=0.0, lower_body=0.0, zoom_out=0.0, background=0.0, part=0.0,
                   absent_outside=False, paste=0.0)


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 image; FileNotFoundError naming the file when it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def sample_crop(person: Person, codec: HeatmapCodec, aug: Augment, rng: np.random.Generator) -> Crop:
    """The (augmented) crop for one person."""
    box = person.bbox
    if aug.lower_body > 0 and rng.random() < aug.lower_body:
        lb = geometry.lower_body_box(person.keypoints, person.labeled)
        if lb is not None:
            box = lb
    c, s = geometry.box_to_center_size(box, codec.input_size[0] / codec.input_size[1])
    s = s * rng.uniform(*aug.scale)
    if aug.zoom_out > 0 and rng.random() < aug.zoom_out:
        s = s * rng.uniform(*aug.zoom_out_scale)
    elif aug.part > 0 and person.labeled.any() and rng.random() < aug.part:
        c = person.keypoints[rng.choice(np.flatnonzero(person.labeled))].astype(np.float64)
        s = s * rng.uniform(*aug.part_scale)
    c = c + rng.uniform(-aug.shift, aug.shift, 2) * s
    rot = rng.uniform(-aug.rotation, aug.rotation) if rng.random() < aug.rotation_p else 0.0
    flip = bool(rng.random() < aug.flip)
    return Crop((float(c[0]), float(c[1])), (float(s[0]), float(s[1])), codec.input_size, rot, flip)


def jitter_color(img: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation jitter and occasional greyscale, on RGB uint8."""
    if aug.color <= 0 and aug.gray <= 0:
        return img
    x = img.astype(np.float32)
    if aug.color > 0:
        a = aug.color
        x = x * rng.uniform(1 - a, 1 + a)  # brightness
        mean = x.mean()
        x = (x - mean) * rng.uniform(1 - a, 1 + a) + mean  # contrast
        grey = x.mean(axis=2, keepdims=True)
        x = (x - grey) * rng.uniform(1 - a, 1 + a) + grey  # saturation
    if rng.random() < aug.gray:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(x, 0, 255).astype(np.uint8)


def background_crop(person: Person, avoid: list, image_size: tuple[int, int], codec: HeatmapCodec,
                    rng: np.random.Generator, tries: int = 12) -> Crop | None:
    """A crop the size of ``person``'s (0.5-1.5x) that overlaps none of the boxes ``avoid``
    (every person box of the image, each grown by half), or None when none fits."""
    w, h = image_size
    _, s = geometry.box_to_center_size(person.bbox, codec.input_size[0] / codec.input_size[1])
    grown = [(x - bw / 4, y - bh / 4, x + bw * 1.25, y + bh * 1.25) for x, y, bw, bh in avoid]
    for _ in range(tries):
        sw, sh = s * rng.uniform(0.5, 1.5)
        if sw >= w or sh >= h:
            continue
        cx, cy = rng.uniform(sw / 2, w - sw / 2), rng.uniform(sh / 2, h - sh / 2)
        x0, y0, x1, y1 = cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2
        if all(x1 <= a or x0 >= c or y1 <= b or y0 >= d for a, b, c, d in grown):
            return Crop((float(cx), float(cy)), (float(sw), float(sh)), codec.input_size, 0.0,
                        bool(rng.random() < 0.5))
    return None


def paste_onto(patch: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray,
               rng: np.random.Generator, feather: float = 1.0) -> np.ndarray:
    """``patch`` (h, w, 3) where ``alpha`` (h, w, 0..255: the person's mask warped like the
    patch) is set, over a random region of ``backdrop`` (any RGB image) of the patch's aspect, 30-100%
    of the largest such region, mirrored half the time. The mask's edge is feathered by a
    Gaussian of ``feather`` pixels so that the cut itself is no cue."""
    h, w = patch.shape[:2]
    bh, bw = backdrop.shape[:2]
    rw, rh = geometry.fit_inside(bw, bh, w / h)
    f = rng.uniform(0.3, 1.0)
    rw, rh = max(2, int(rw * f)), max(2, int(rh * f))
    x0, y0 = int(rng.integers(0, bw - rw + 1)), int(rng.integers(0, bh - rh + 1))
    bg = cv2.resize(backdrop[y0:y0 + rh, x0:x0 + rw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    a = alpha.astype(np.float32) / 255.0
    if feather > 0:
        a = cv2.GaussianBlur(a, (0, 0), feather)
    a = a[..., None]
    return (a * patch + (1.0 - a) * bg).round().astype(np.uint8)


def make_sample(image: np.ndarray, person: Person, codec: HeatmapCodec, aug: Augment,
                rng: np.random.Generator, avoid: list | None = None,
                backdrop: np.ndarray | None = None) -> dict:
    """Crop, augment and encode one person. Returns numpy arrays: 'image' (H, W, 3) uint8,
    'target' (6, h, w), 'weight' (6,). With ``avoid`` (every person box in the image) and
    ``aug.background``, the sample is now and then a crop beside all of them, with an all-zero
    target at full weight ('background': True). With a ``backdrop`` image, the person (where it
    has a segmentation) is pasted onto part of it ('pasted': True); ``PoseDataset`` passes one
    with probability ``aug.paste``."""
    if avoid is not None and aug.background > 0 and rng.random() < aug.background:
        crop = background_crop(person, avoid, (image.shape[1], image.shape[0]), codec, rng)
        if crop is not None:
            target = np.zeros((NUM_JOINTS, codec.heatmap_size[1], codec.heatmap_size[0]), np.float32)
            return {"image": jitter_color(crop.warp(image), aug, rng), "target": target,
                    "weight": np.ones(NUM_JOINTS, np.float32), "background": True, "pasted": False}
    crop = sample_crop(person, codec, aug, rng)
    patch = crop.warp(image)
    pasted = False
    if backdrop is not None and person.segmentation is not None:
        mask = segmentation_mask(person.segmentation, (image.shape[1], image.shape[0]))
        if mask is not None:
            patch = paste_onto(patch, crop.warp(mask * 255, border_value=0), backdrop, rng)
            pasted = True
    patch = jitter_color(patch, aug, rng)
    kp = crop.to_input(person.keypoints)
    vis = person.visibility.copy()
    if crop.flip:
        kp, vis = kp[list(FLIP_INDEX)], vis[list(FLIP_INDEX)]
    # joints pushed out of the crop by augmentation: trained as absent (aug.absent_outside) or
    # not at all (weight 0), by the codec
    target, weight = codec.encode(kp, (vis >= V_OCCLUDED).astype(np.float32), aug.absent_outside)
    return {"image": patch, "target": target, "weight": weight, "background": False, "pasted": pasted}


class PoseDataset(torch.utils.data.Dataset):
    """People from one COCO file as training or evaluation samples."""

    def __init__(self, people: list[Person], images_dir: str | Path, codec: HeatmapCodec,
                 aug: Augment | None = None, seed: int = 0, cache_images: bool = False,
                 boxes: dict[str, list] | None = None, backdrops: list[str] | None = None):
        """``boxes``: file name -> every person box of that image (crowd and unlabelled people
        too), which background crops keep clear of; without it no background crops are made.
        ``backdrops``: image file names (under ``images_dir``) that ``aug.paste`` cuts
        backgrounds from; without them nobody is pasted."""
        self.people = people
        self.backdrops = list(backdrops or [])
        self.boxes = boxes
        self.images_dir = Path(images_dir)
        self.codec = codec
        self.aug = aug or Augment.none()
        self.seed = seed
        self.epoch = 0
        self._cache: dict[str, np.ndarray] | None = {} if cache_images else None

    def set_epoch(self, epoch: int) -> None:
        """Draw a new, reproducible set of augmentations for ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.people)

    def _person(self, i: int) -> Person:
        """Index ``i`` names person ``i % len(self)``: an index past the end is a repeat
        (``PoseBalancedSampler``) with augmentation draws of its own."""
        return self.people[i % len(self.people)]

    def image(self, person: Person | str) -> np.ndarray:
        name = person if isinstance(person, str) else person.file_name
        if self._cache is not None and name in self._cache:
            return self._cache[name]
        img = read_image(self.images_dir / name)
        if self._cache is not None:
            self._cache[name] = img
        return img

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        p = self._person(i)
        avoid = self.boxes.get(p.file_name, [p.bbox]) if self.boxes is not None else None
        backdrop = None
        if self.backdrops and self.aug.paste > 0 and p.segmentation is not None:
            # drawn from its own generator, so that pasting leaves every other draw unchanged
            pick = np.random.default_rng([self.seed, self.epoch, i, 1])
            if pick.random() < self.aug.paste:
                backdrop = self.image(self.backdrops[int(pick.integers(len(self.backdrops)))])
        s = make_sample(self.image(p), p, self.codec, self.aug, rng, avoid, backdrop)
        return {"image": torch.from_numpy(s["image"]), "target": torch.from_numpy(s["target"]),
                "weight": torch.from_numpy(s["weight"]), "index": i, "pasted": s["pasted"]}


#: Knee-bend bins of ``pose_bins``: the smaller knee angle of the fully labelled legs (degrees,
#: 180 = straight) is deep below 100, bent below 140, slightly bent below 170, else straight.
KNEE_BINS = (100.0, 140.0, 170.0)
POSE_BIN_NAMES = ("deep", "bent", "slightly bent", "straight", "no full leg")


def pose_bins(people: list[Person]) -> np.ndarray:
    """Each person's knee-bend bin, an index into ``POSE_BIN_NAMES`` (the last: no leg with
    hip, knee and ankle all labelled)."""
    from engine.analysis.angles import LEGS, angle_at
    out = np.full(len(people), len(KNEE_BINS) + 1, dtype=int)
    for n, p in enumerate(people):
        angles = [float(angle_at(p.keypoints[h], p.keypoints[k], p.keypoints[a]))
                  for h, k, a in LEGS if p.labeled[[h, k, a]].all()]
        angles = [a for a in angles if np.isfinite(a)]
        if angles:
            out[n] = int(np.searchsorted(KNEE_BINS, min(angles), side="right"))
    return out


class PoseBalancedSampler(torch.utils.data.Sampler):
    """Per epoch, ``len(people)`` draws with replacement, each bin of ``pose_bins`` that holds
    anybody equally likely (people within a bin alike): a rare pose is seen more often, a
    common one less.
    The k-th repeat of person i in an epoch is index i + k * len(people), so that it gets
    augmentation draws of its own (``PoseDataset`` takes the index modulo its length). The
    draw depends on (seed, epoch) alone; under DDP every process makes the same draw and
    takes every ``world``-th index of it."""

    def __init__(self, people: list[Person], seed: int = 0, rank: int = 0, world: int = 1):
        bins = pose_bins(people)
        counts = np.bincount(bins, minlength=len(POSE_BIN_NAMES))
        self.counts = dict(zip(POSE_BIN_NAMES, counts.tolist()))
        w = 1.0 / counts[bins]
        self.p = w / w.sum()
        self.n, self.seed, self.rank, self.world = len(people), seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.world)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 2])
        idx = rng.choice(self.n, size=len(self) * self.world, p=self.p)
        seen = np.zeros(self.n, dtype=int)
        out = np.empty_like(idx)
        for j, i in enumerate(idx):
            out[j] = i + seen[i] * self.n
            seen[i] += 1
        return iter(out[self.rank::self.world].tolist())
