"""Lower-body joints from a video with a heatmap model: clip -> frames -> crop per frame ->
model -> heatmaps -> keypoints (frame pixels) with confidences -> temporal smoothing.

    predictor = load_predictor("dilated")              # shipped weights, or weights=PATH
    series = predictor.predict_video("squat.mp4", stride=2)

Where to crop each frame is decided by ``engine.video.tracking``: the person detector
(``engine.video.detect``) finds the athlete, the joints found then track the lower body; without
the detector, a search of the whole frame with the model itself. Frames are run through the model in batches
that share one crop. Decoding is ``engine.models.common.predict_keypoints`` (the codec's arg-max
+ DARK, or the model's own decoding) then ``Crop.to_image``. A joint's confidence is its heatmap peak clipped to [0, 1]; a joint whose
peak lies outside the frame (in the crop's padding) counts as not found (NaN, confidence 0).
"""
from __future__ import annotations

import copy
import time
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np
import torch

from engine.codec import HeatmapCodec
from engine.geometry import Crop, crop_for
from engine.joints import NUM_JOINTS
from engine.models import preprocess
from engine.models.common import fuse_conv_bn, predict_keypoints
from engine.models.onnx_runtime import DEFAULT_RUNTIME
from engine.pose import PoseSeries
from .tracking import (MotionMap, TrackerConfig, choose_athlete, confident_region, crop_from_joints,
                       crowded, inside_box, outside_box, person_height_in_crop, redetect_wait, search_levels,
                       whole_frame_crop)

#: How a predictor finds the athlete: "auto" = the person detector when it can be loaded, else
#: the detector-free search; "detector" = the detector or an error; "search" = no detector.
FINDERS = ("auto", "detector", "search")

#: progress(fraction_done in 0..1, message)
Progress = Callable[[float, str], None]


class Predictor(Protocol):
    """Anything that turns a clip into a ``PoseSeries`` (heatmap models, MediaPipe, ...)."""

    name: str

    def predict_video(self, video_path: str, *, stride: int = 1, max_seconds: float | None = None,
                      keep_heatmaps: bool = True, progress: Progress | None = None) -> PoseSeries: ...


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class HeatmapPredictor:
    """A registry model (trained or not) run over videos, with search-and-track cropping.

    ``input_size`` is the model input (width, height) in pixels, ``sigma`` the heatmap
    Gaussian's standard deviation it was trained with. On the CPU the model is copied with
    BatchNorm folded into the convolutions and run in channels-last layout (same outputs,
    faster); on CUDA it runs under float16 autocast.

    ``runtime`` (``engine.models.onnx_runtime.RUNTIMES``; default ``DEFAULT_RUNTIME``, "auto",
    measured the faster here): "auto" runs the CPU model on ONNX Runtime, exported from
    ``weights_path`` on first use, and falls back to PyTorch when it cannot (saying why once per
    process in the log; a model without ``weights_path`` and a CUDA device run on PyTorch);
    "torch"; "onnx" / "onnx-int8" = ONNX Runtime (the float or the int8 file) or
    ``OnnxUnavailable``. ``self.runtime`` says which runs: torch, onnxruntime or onnxruntime-int8
    (recorded in ``series.meta['runtime']``).
    """

    def __init__(self, model: torch.nn.Module, input_size: tuple[int, int] = (96, 128), name: str = "",
                 *, sigma: float = 2.0, device: str | torch.device = "cpu", batch_size: int = 8,
                 smooth: bool = True, tracker: TrackerConfig = TrackerConfig(),
                 confidence_scale: float = 1.0, finder: str = "auto", flip_test: bool = False,
                 runtime: str = DEFAULT_RUNTIME, weights_path: str | None = None):
        w, h = (int(v) for v in input_size)
        s = int(getattr(model, "stride", 4))
        if w % 32 or h % 32:
            raise ValueError(f"input size {w}x{h} (WxH): both sides must be multiples of 32")
        self.device = torch.device(device)
        self.codec = HeatmapCodec((w, h), (w // s, h // s), sigma)
        self.name = name or type(model).__name__
        self.batch_size = int(batch_size)
        self.smooth = smooth
        self.tracker = tracker
        #: The series' confidence is min(1, heatmap peak x this): a trained model's peaks on
        #: correct joints of unseen clips sit well under the 1.0 of its targets, so its sidecar
        #: can say how to bring them to the scale the analysis trusts (0.5 = usable). The
        #: tracker works on the raw peaks.
        self.confidence_scale = float(confidence_scale)
        if finder not in FINDERS:
            raise ValueError(f"finder must be one of {', '.join(FINDERS)}, not {finder!r}")
        #: "auto", "detector" or "search" (see ``FINDERS``); the detector loads at the first clip
        self.finder = finder
        #: Average each crop's heatmaps with its mirror image's (``predict_heatmaps``): better
        #: joints for twice the model's work; the sidecar's ``flip_test`` says whether a model
        #: ships with it on
        self.flip_test = bool(flip_test)
        model = copy.deepcopy(model).eval().to(self.device)
        if self.device.type == "cpu":
            model = fuse_conv_bn(model).to(memory_format=torch.channels_last)
        self.model = model
        self.timings = dict.fromkeys(("decode", "preprocess", "model", "postprocess"), 0.0)
        #: what runs the network outside PyTorch (an ONNX Runtime session, or another runtime
        #: with the same ``predict_keypoints`` of uint8 crops: ``engine.video.movenet.LiteRunner``);
        #: None = PyTorch (``self.model``)
        self.runner, self.runtime = self._runner(runtime, weights_path, model)

    def _runner(self, runtime: str, weights_path, model):
        """(ONNX Runtime session, or None for PyTorch; the runtime's name) for ``runtime`` (see the class)."""
        from engine.models import onnx_runtime as ox
        if runtime not in ox.RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(ox.RUNTIMES)}, not {runtime!r}")
        if runtime == "torch" or runtime == "auto" and (self.device.type != "cpu" or weights_path is None):
            return None, "torch"
        pose, why = ox.pose_or_reason(weights_path, model, int8=runtime == "onnx-int8")
        if pose is not None:
            return pose, pose.runtime
        if runtime != "auto":
            raise ox.OnnxUnavailable(f"{self.name}: {why}")
        ox.note_fallback(self.name, why)
        return None, "torch"

    @property
    def input_size(self) -> tuple[int, int]:
        return self.codec.input_size

    # -- one batch of crops -------------------------------------------------------------------
    def infer(self, frames: list[np.ndarray], crops: list[Crop]):
        """Run the model on ``crops`` of ``frames`` (RGB uint8, H x W x 3).

        Returns keypoints (N, 6, 2) in frame pixels (NaN when outside the frame), confidences
        (N, 6) in [0, 1] and heatmaps (N, 6, h, w) float32 in crop space.
        """
        t0 = time.perf_counter()
        warped = np.stack([c.warp(f) for f, c in zip(frames, crops)])
        if self.runner is not None:  # ONNX Runtime: the graph normalises the uint8 crops itself
            t1 = time.perf_counter()
            hm, xy, peak = self.runner.predict_keypoints(warped, self.codec, self.flip_test)
        else:
            x = preprocess(warped, self.device)
            if self.device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            t1 = time.perf_counter()
            with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=self.device.type == "cuda"):
                hm, xy, peak = predict_keypoints(self.model, x, self.codec, self.flip_test)
        t2 = time.perf_counter()
        expect = (len(frames), NUM_JOINTS, self.codec.heatmap_size[1], self.codec.heatmap_size[0])
        if hm.shape != expect:
            raise ValueError(f"model {self.name} gave heatmaps {hm.shape}, expected {expect}")
        kp = np.stack([c.to_image(p) for c, p in zip(crops, xy)])
        conf = np.clip(peak, 0.0, 1.0).astype(np.float64)
        for i, f in enumerate(frames):
            fh, fw = f.shape[:2]
            out = ~((kp[i, :, 0] >= -0.5) & (kp[i, :, 0] <= fw - 0.5)
                    & (kp[i, :, 1] >= -0.5) & (kp[i, :, 1] <= fh - 0.5))
            kp[i, out], conf[i, out] = np.nan, 0.0
        t3 = time.perf_counter()
        self.timings["preprocess"] += t1 - t0
        self.timings["model"] += t2 - t1
        self.timings["postprocess"] += t3 - t2
        return kp, conf, hm

    # -- finding the athlete -------------------------------------------------------------------
    def search(self, frame: np.ndarray,
               motion: MotionMap | None = None) -> tuple[Crop, np.ndarray, np.ndarray]:
        """Find the athlete in ``frame``: the whole frame when it shows a confident lower body
        of a fair size; otherwise the finer windows level by level, coarsest first, stopping at
        the first level with a confident candidate (a finer window shows only part of a person,
        which a model can take for a whole small one: a foot for a lower body). Candidates are
        ranked by mean confidence times how much their lower body moves (``motion``, when
        given). Returns (crop, keypoints, confidences) of the best candidate."""
        size = (frame.shape[1], frame.shape[0])
        whole = whole_frame_crop(size, self.input_size)
        kp, conf, _ = self.infer([frame], [whole])
        cfg = self.tracker
        if conf[0].mean() >= cfg.min_confidence and \
                person_height_in_crop(kp[0], conf[0], whole, cfg) >= cfg.small_person:
            return whole, kp[0], conf[0]

        def score(k, c) -> float:
            if motion is None:
                return float(c.mean())
            return float(c.mean()) * motion.support(confident_region(k, c, cfg))

        best, best_score = (whole, kp[0], conf[0]), score(kp[0], conf[0])
        for level in search_levels(size, self.input_size, cfg):
            top, top_score = None, -1.0
            for crops in _batches(level, self.batch_size):
                kp, conf, _ = self.infer([frame] * len(crops), crops)
                for i, crop in enumerate(crops):
                    sc = score(kp[i], conf[i])
                    if sc > top_score:
                        top, top_score = (crop, kp[i], conf[i]), sc
            if top is not None and top_score >= cfg.min_confidence:
                return top
            if top is not None and top_score > best_score:
                best, best_score = top, top_score
        return best

    # -- a whole clip --------------------------------------------------------------------------
    def person_detector(self):
        """(detector, None) when this predictor finds people with the detector, else (None,
        why not: None for ``finder="search"``). Raises ``DetectorError`` for
        ``finder="detector"`` when it cannot be loaded."""
        if self.finder == "search":
            return None, None
        from .detect import detector_or_reason, load_detector
        if self.finder == "detector":
            return load_detector(torch.get_num_threads()), None
        det, why = detector_or_reason(torch.get_num_threads())
        return det, (None if det else f"no person detector ({why}); used the detector-free search")

    def motion_map(self, video_path: str, max_seconds: float | None = None) -> MotionMap | None:
        """The clip's ``MotionMap`` over its first ``tracker.motion_seconds`` (about ten frames
        a second of them), for the search; None when the tracker does not weigh motion."""
        from .reader import open_video

        seconds = self.tracker.motion_seconds
        if seconds <= 0:
            return None
        if max_seconds is not None:
            seconds = min(seconds, max_seconds)
        with open_video(video_path, max_seconds=seconds) as video:
            every = max(1, round((video.fps or 30.0) / 10))
            return MotionMap.from_frames(f for i, f in video.frames() if i % every == 0)

    def predict_video(self, video_path: str, *, stride: int = 1, max_seconds: float | None = None,
                      keep_heatmaps: bool = True, progress: Progress | None = None) -> PoseSeries:
        """Joints in every ``stride``-th frame of the clip (its first ``max_seconds`` only when
        given), in frame pixels. ``series.crops`` holds each frame's crop and, with
        ``keep_heatmaps``, ``series.heatmaps`` the model's heatmaps (float16, crop space);
        ``series.meta`` the input size, device, number of searches and time per stage."""
        return self.predict_shared(video_path, (), stride=stride, max_seconds=max_seconds,
                                   keep_heatmaps=keep_heatmaps, progress=progress)[0]

    def predict_shared(self, video_path: str, followers=(), *, stride: int = 1,
                       max_seconds: float | None = None, keep_heatmaps: bool = True,
                       progress: Progress | None = None) -> list[PoseSeries]:
        """One pass over the clip for this predictor (the lead) and ``followers`` (other
        ``HeatmapPredictor``s): the frames are decoded, the athlete found (detector or search)
        and followed once, all by the lead exactly as ``predict_video`` does; each follower runs
        on the same frames with the lead's crop of each batch mapped to its own input
        (``engine.geometry.crop_for``: same centre, grown to its aspect, nothing the lead saw cut off), and
        gets the same post-processing (joints outside the athlete's box dropped, its own
        confidence scale, smoothing). Returns [lead's series, each follower's], the lead's
        identical to its ``predict_video``. Each series' ``timings_s`` holds its own model time;
        decoding and the detector are the lead's (a follower's are 0) and every series of a
        shared pass says so in ``meta['shared_pass']``."""
        from .reader import open_video

        followers = list(followers)
        for f in followers:
            f.timings = dict.fromkeys(f.timings, 0.0)
        tracks = [_Track(keep_heatmaps) for _ in range(1 + len(followers))]
        self.timings = dict.fromkeys(self.timings, 0.0)
        detector, why = self.person_detector()
        cfg = self.tracker
        idx = []
        searches, tracking, next_search, floor, dip_since = 0, False, -np.inf, 0.0, None
        roi: Crop | None = None
        # with the detector: the athlete's last box, when it was seen, when to detect next
        athlete, seen_at, next_detect, last_detect, close = None, -np.inf, -np.inf, -np.inf, False
        matched = False  # whether the latest detection found the athlete (then its box bounds the joints)
        dropped = False  # whether the latest frame lost joints to the athlete's box (it may be stale)
        misses = 0  # detections in a row that found nobody to be the athlete (they back off)
        calls0, det_s0, detections = (detector.calls, detector.seconds, 0) if detector else (0, 0.0, 0)
        motion = self.motion_map(video_path, max_seconds)
        with open_video(video_path, stride=stride, max_seconds=max_seconds) as video:
            fps, size = float(video.fps), tuple(video.frame_size)
            total = _expected_frames(video, stride, max_seconds)
            clock = fps or 30.0  # for the tracker's timing only, when a clip reports no rate
            per_batch = int(np.clip(round(cfg.max_batch_seconds * clock / stride), 1, self.batch_size))
            frames_iter = _timed(video.frames(), self.timings)
            last = None  # (keypoints, confidences) of the latest frame
            for batch in _batches(frames_iter, per_batch):
                t = batch[0][0] / clock
                frames = [f for _, f in batch]
                if detector is not None:
                    region = None if last is None else confident_region(*last, cfg)
                    lost = last is None or last[1].mean() < cfg.min_confidence
                    # joints dropped below a box older than redetect_s: the box may be stale (taken
                    # in the air during a jump squat, the feet now lower): detect again
                    stale = dropped and t - last_detect >= cfg.redetect_s
                    strayed = athlete is not None and not lost and (stale or not inside_box(region, athlete, cfg))
                    due = close or t - last_detect >= cfg.detect_interval_s
                    # while the latest detections matched nobody, every reason waits for next_detect
                    # (redetect_wait backs off); after a match, next_detect is already past
                    if (lost or strayed or due) and t >= next_detect:
                        people = detector.detect(frames[0])
                        detections += 1
                        last_detect = t
                        if athlete is not None and t - seen_at > cfg.lost_s:
                            athlete = None  # gone too long (a cut): choose afresh
                        found = choose_athlete(people, athlete, motion, cfg)
                        matched = found is not None
                        misses = 0 if matched else misses + 1
                        if found is not None:
                            athlete, seen_at = found.box, t
                            close = crowded(people, found, cfg)
                            box_crop = Crop.from_box(found.xywh, self.input_size)
                            floor, dip_since = cfg.min_box_fraction * box_crop.size[1], None
                            if roi is None or lost or not inside_box(region, athlete, cfg):
                                roi = box_crop
                        else:
                            close = False
                            next_detect = t + redetect_wait(misses, t, seen_at if athlete is not None else None, cfg)
                            if roi is None:
                                roi = whole_frame_crop(size, self.input_size)
                elif not tracking and t >= next_search:
                    roi, kp0, conf0 = self.search(frames[0], motion)
                    searches += 1
                    if conf0.mean() >= cfg.min_confidence:
                        roi = crop_from_joints(kp0, conf0, size, self.input_size, cfg) or roi
                    else:
                        next_search = t + cfg.search_interval_s
                    floor, dip_since = cfg.min_search_fraction * roi.size[1], None
                used = roi
                box = athlete if detector is not None and matched else None  # joints outside: not the athlete's
                kp, conf, hm = self.infer(frames, [used] * len(frames))
                dropped = _drop_outside(kp, conf, box, cfg)
                tracks[0].add(kp, conf, hm, [used] * len(frames))
                for f, track in zip(followers, tracks[1:]):
                    theirs = crop_for(used, f.input_size)
                    fkp, fconf, fhm = f.infer(frames, [theirs] * len(frames))
                    _drop_outside(fkp, fconf, box, cfg)
                    track.add(fkp, fconf, fhm, [theirs] * len(frames))
                last = (kp[-1], conf[-1])
                # keep tracking while the latest frame is confident; the next crop covers the
                # joints of all the batch's confident frames (and so the motion between them)
                good = conf.mean(axis=1) >= cfg.min_confidence
                tracking = bool(good[-1])
                if tracking:
                    dip_since = None
                elif conf[-1].mean() >= cfg.hold_confidence:  # unsure, not gone: hold the crop
                    dip_since = t if dip_since is None else dip_since
                    tracking = t - dip_since < cfg.hold_s
                if good.any():
                    roi = crop_from_joints(kp[good], conf[good], size, self.input_size, cfg, roi,
                                           floor) or roi
                idx += [i for i, _ in batch]
                if progress is not None:
                    done = len(idx) / total if total else 0.0
                    progress(min(done, 1.0), f"{self.name}: frame {idx[-1] + 1}")
        finder = {"person_finder": "detector" if detector else "search", "searches": searches,
                  "detector_calls": detections}
        if detector is not None:
            finder["detector"] = detector.name
            finder["detector_ms_per_call"] = round(1000 * (detector.seconds - det_s0)
                                                   / max(detector.calls - calls0, 1), 1)
            self.timings["detector"] = detector.seconds - det_s0
        elif why:
            finder["person_finder_note"] = why
        predictors = [self, *followers]
        shared = None
        if followers:
            shared = {"lead": self.name, "models": [p.name for p in predictors],
                      "decode_s": self.timings.get("decode", 0.0), "detector_s": self.timings.get("detector", 0.0)}
        out = []
        for p, track in zip(predictors, tracks):
            if p is not self:  # decoding and finding the athlete were the lead's, once
                p.timings.update(decode=0.0, detector=0.0)
            out.append(p._finish(track, idx, fps, size, stride, finder, shared))
        if progress is not None:
            progress(1.0, f"{self.name}: {len(out[0])} frames")
        return out

    def _finish(self, track: "_Track", idx, fps, size, stride, finder: dict, shared: dict | None) -> PoseSeries:
        """This predictor's series from what a pass collected for it: its confidence scale,
        its meta (``finder``: how the athlete was found; ``shared``: the shared pass, if any)
        and its smoothing."""
        series = self._series(idx, track.kps, track.confs, track.hms, track.crops, fps, size, stride)
        series.meta.update({"input_size": list(self.input_size), "device": str(self.device),
                            "confidence_scale": self.confidence_scale, "flip_test": self.flip_test,
                            **finder, "timings_s": dict(self.timings)})
        if shared is not None:
            series.meta["shared_pass"] = dict(shared)
        if self.smooth:
            series = _smooth(series)
        return series

    def _series(self, idx, kps, confs, hms, crops, fps, size, stride) -> PoseSeries:
        if not idx:
            s = PoseSeries.empty(0, fps, size, self.name, stride)
            s.crops = []
            s.meta["runtime"] = self.runtime
            return s
        frame_indices = np.asarray(idx, dtype=int)
        times = frame_indices / fps if fps else frame_indices.astype(float)
        conf = np.clip(np.concatenate(confs) * self.confidence_scale, 0.0, 1.0)
        series = PoseSeries(np.concatenate(kps), conf, times, frame_indices, size,
                            fps / stride if fps else 0.0, self.name,
                            heatmaps=np.concatenate(hms) if hms is not None else None, crops=crops)
        series.meta["runtime"] = self.runtime  # torch, onnxruntime or onnxruntime-int8
        return series


class _Track:
    """What one model's pass collects, batch by batch: joints, confidences, heatmaps (float16,
    with ``keep_heatmaps``; else None) and the crop of each frame."""

    def __init__(self, keep_heatmaps: bool):
        self.kps, self.confs, self.crops = [], [], []
        self.hms = [] if keep_heatmaps else None

    def add(self, kp, conf, hm, crops: list[Crop]) -> None:
        self.kps.append(kp)
        self.confs.append(conf)
        self.crops += crops
        if self.hms is not None:
            self.hms.append(hm.astype(np.float16))


def _drop_outside(kp: np.ndarray, conf: np.ndarray, box, cfg: TrackerConfig) -> bool:
    """Drop (NaN, confidence 0, in place) the joints outside the athlete's ``box`` (None: keep
    all); whether the batch's last frame lost any."""
    if box is None:
        return False
    out = outside_box(kp, box, cfg)
    kp[out], conf[out] = np.nan, 0.0
    return bool(out[-1].any())


def _smooth(series: PoseSeries) -> PoseSeries:
    """The One Euro filter of ``engine.video.smoothing`` when that module is present."""
    try:
        from .smoothing import smooth_series
    except ImportError:
        return series
    return smooth_series(series)


def _timed(frames: Iterator, timings: dict) -> Iterator:
    """Pass frames through, adding the time spent decoding them to ``timings['decode']``."""
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        timings["decode"] += time.perf_counter() - t0
        yield item


def _expected_frames(video, stride: int, max_seconds: float | None) -> int | None:
    """How many frames the clip should yield (for progress), or None when unknown."""
    n = getattr(video, "frame_count", None)
    if max_seconds is not None and video.fps:
        m = int(max_seconds * video.fps)
        n = min(n, m) if n else m
    return -(-n // stride) if n else None


def load_predictor(model: str, weights: str | None = None, device: str = "auto",
                   smooth: bool = True, finder: str = "auto", flip_test: bool | None = None,
                   runtime: str = DEFAULT_RUNTIME) -> Predictor:
    """A predictor for registry model ``model`` with trained weights: the file ``weights``
    (its sidecar must name the same model), else the weights shipped in ``weights/`` for it.
    ``device``: 'auto' (CUDA when present), 'cpu' or 'cuda'; ``finder``: see ``FINDERS``;
    ``flip_test``: None = as the sidecar says (``flip_test``, off when absent); ``runtime``: see
    ``HeatmapPredictor`` (default ``DEFAULT_RUNTIME``, "auto": ONNX Runtime on the
    CPU, the faster here; PyTorch when it cannot be used). Raises
    ``engine.models.weights.WeightsError`` with a readable message when no usable weights exist."""
    from engine.models import weights as weightslib
    from engine.device import pick_device

    name, path = weightslib.resolve(model, weights)
    if path is None:
        raise weightslib.WeightsError(
            f"no trained weights for model '{name}' in {weightslib.WEIGHTS_DIR} (train one with "
            "python -m engine.train, or pass weights=PATH)")
    if model and name != model:
        raise weightslib.WeightsError(f"{path}: its sidecar says model '{name}', not '{model}'")
    dev = pick_device(device)
    net, meta = weightslib.load_model(path, dev)
    codec = weightslib.codec_for(meta)
    return HeatmapPredictor(net, codec.input_size, name, sigma=codec.sigma, device=dev, smooth=smooth,
                            confidence_scale=float(meta.get("confidence_scale", 1.0)), finder=finder,
                            flip_test=weightslib.flip_test_for(meta) if flip_test is None else flip_test,
                            runtime=runtime, weights_path=str(path))
