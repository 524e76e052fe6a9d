"""Pose models on ONNX Runtime: export a weight file to ONNX, cache the export, run it.

Inference on the CPU runs every registry model through ONNX Runtime (training stays on PyTorch):

    pose = onnx_pose("weights/mobilenetv2.safetensors")     # exports on first use (seconds)
    hm, xy, scores = pose.predict_keypoints(crops_uint8, codec)   # as common.predict_keypoints

The exported graph takes the crops as they come from ``Crop.warp``: RGB uint8 (N, H, W, 3), the
batch size free, H and W fixed by the sidecar's input size; the ImageNet normalisation of
``engine.models.preprocess`` is the graph's first step (the same arithmetic). A model decoded by
the heatmap codec outputs its heatmaps (N, 6, h, w), decoded afterwards by ``codec.decode`` as
``predict_keypoints`` does; MoveNet with its own weights (``decodes_keypoints``) outputs its four
raw heads, which ``MoveNetPose.keypoints_from_heads`` decodes: the same code as PyTorch's
``forward_keypoints``, so the decoding cannot drift. The flip test runs the mirrored crops in the
same batch and averages as ``predict_heatmaps`` does.

The cache: ``<weights dir>/.onnx/<stem>-<sha256 of the weight file, 16 hex>-v<FORMAT>.onnx`` (a
user cache dir, ``$XDG_CACHE_HOME/squatpose/onnx``, when the weights' folder is not writable;
``SQUATPOSE_ONNX_DIR`` overrides both). A changed weight file has another hash, so a stale export is
never run: it is exported again (and the old file of that stem removed). Every export is checked
against PyTorch on a seeded batch before it is renamed into place. ``python -m engine.export``
builds the files for every shipped weight file (``--int8`` adds the statically quantised copies,
``engine.models.onnx_quantize``).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.joints import FLIP_INDEX
from .common import MEAN, STD

log = logging.getLogger(__name__)

#: Bumped when the exported graph changes (its inputs, outputs or how it is built): older files
#: are then not used. 2: BatchNorm folded and the exporter's optimiser on (about 2x faster).
FORMAT = 2
OPSET = 18
#: The names of the four raw MoveNet heads a self-decoding graph outputs, in this order.
MOVENET_HEADS = ("kpt_heatmap", "center", "kpt_regress", "kpt_offset")
#: Runtimes a HeatmapPredictor, engine.analyze and engine.evaluate accept.
RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
#: What the video path, the app and ``engine.analyze`` run when not told: ONNX Runtime on the
#: CPU wherever it can run, PyTorch elsewhere (CUDA, a model without a weight file, onnxruntime
#: missing, a failed export; said once in the log). Measured end to end on ``side-wall.mp4``
#: (``engine.bench video``, 2 cores of an AMD EPYC; docs/onnx.md), ONNX Runtime runs every
#: shipped model's network faster than PyTorch since the exports have their BatchNorm folded and
#: the exporter's optimiser on (FORMAT 2). "torch" stays one flag away.
DEFAULT_RUNTIME = "auto"

_LOCK = threading.Lock()
_SESSIONS: dict[tuple, "OnnxPose"] = {}
_SHA: dict[tuple, str] = {}
_WARNED: set[str] = set()
_FAILED: dict[str, str] = {}  # export path -> why its export failed (not retried in this process)


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime cannot run this model (not installed, export failed, file missing); the
    message says why."""


# -- the cache ---------------------------------------------------------------------------------
def weights_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a weight file, remembered per (path, size, mtime) in this process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA[key] = h.hexdigest()
    return _SHA[key]


def _writable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(d, os.W_OK | os.X_OK)


def cache_dir(weights_path: str | Path) -> Path:
    """Where the exports of ``weights_path`` live: ``SQUATPOSE_ONNX_DIR`` when set, else
    ``.onnx/`` beside the weights when that folder is writable, else the user cache dir."""
    if os.environ.get("SQUATPOSE_ONNX_DIR"):
        return Path(os.environ["SQUATPOSE_ONNX_DIR"])
    beside = Path(weights_path).resolve().parent / ".onnx"
    if beside.is_dir() and os.access(beside, os.W_OK | os.X_OK) or \
            os.access(beside.parent, os.W_OK | os.X_OK) and _writable(beside):
        return beside
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "squatpose" / "onnx"


def onnx_path(weights_path: str | Path, int8: bool = False) -> Path:
    """The cache file of ``weights_path``'s export (float, or its int8 copy)."""
    key = weights_sha256(weights_path)[:16]
    return cache_dir(weights_path) / f"{Path(weights_path).stem}-{key}-v{FORMAT}{'-int8' if int8 else ''}.onnx"


def _prune(weights_path: Path, keep: Path) -> None:
    """Remove the exports of earlier versions of ``weights_path`` (same stem, other hash) and
    exports of an earlier ``FORMAT`` from its ``.onnx`` folder (never from a shared user cache)."""
    d = keep.parent
    if d != Path(weights_path).resolve().parent / ".onnx":
        return
    stem = Path(weights_path).stem
    for old in d.glob(f"{stem}-*.onnx"):
        rest = old.name[len(stem) + 1:].split("-")
        if len(rest) >= 2 and len(rest[0]) == 16 and (
                not keep.name.startswith(f"{stem}-{rest[0]}-") or rest[1].split(".")[0] != f"v{FORMAT}"):
            with contextlib.suppress(OSError):
                old.unlink()


# -- export ------------------------------------------------------------------------------------
class _Exported(nn.Module):
    """uint8 RGB crops (N, H, W, 3) -> the model's outputs: ``preprocess``'s normalisation,
    then the heatmaps (codec models) or MoveNet's four raw heads (self-decoding MoveNet)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.own = bool(getattr(model, "decodes_keypoints", False))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, crops: torch.Tensor):
        x = crops.permute(0, 3, 1, 2).float().div(255.0)
        x = (x - self.mean) / self.std
        if self.own:
            heads = self.model.forward_heads(x)
            return tuple(heads[k] for k in MOVENET_HEADS)
        return self.model(x)


def export(model_name: str | None, weights_path: str | Path, out_path: str | Path | None = None,
           check: bool = True) -> Path:
    """Export the weights at ``weights_path`` (their sidecar names the model; ``model_name``, when
    given, must match) to ONNX at ``out_path`` (default: ``onnx_path``), atomically. fp16-stored
    weights are exported as float32. With ``check`` the file is run on a seeded batch and compared
    with PyTorch before it is renamed into place. Raises ``OnnxUnavailable``."""
    from engine.fileio import atomic_path
    from .common import fuse_conv_bn
    from .weights import codec_for, load_model

    weights_path = Path(weights_path)
    model, meta = load_model(weights_path, "cpu")
    if model_name and meta["model"] != model_name:
        raise OnnxUnavailable(f"{weights_path}: its sidecar says model '{meta['model']}', not '{model_name}'")
    w, h = codec_for(meta).input_size
    out = Path(out_path) if out_path else onnx_path(weights_path)
    # BatchNorm folded as the PyTorch video path runs it: ONNX Runtime did not fuse the exported
    # BatchNormalization nodes itself, and they kept its convolutions off their blocked kernels
    wrapper = _Exported(fuse_conv_bn(model.eval())).eval()
    sample = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, h, w, 3), dtype=np.uint8))
    names = list(MOVENET_HEADS) if wrapper.own else ["heatmaps"]
    try:
        import onnxscript  # noqa: F401  (the exporter needs it; a clear reason when it is missing)
    except ImportError as e:
        raise OnnxUnavailable(f"cannot export to ONNX: {e.name or 'onnxscript'} is not installed "
                              "(pip install -r requirements.txt)") from None
    with atomic_path(out) as tmp:
        try:
            # torch 2.14's legacy exporter (dynamo=False) gives wrong outputs for these models here;
            # the torch.export-based exporter matches PyTorch (checked below)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapper, (sample,), str(tmp), dynamo=True, opset_version=OPSET,
                                  input_names=["crops"], output_names=names, external_data=False,
                                  # the exporter's optimiser folds the CastLike/Expand constants it
                                  # writes around every clamp; without it ONNX Runtime left each
                                  # convolution between layout reorders (2x slower, docs/onnx.md)
                                  optimize=True,
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
        except Exception as e:  # the exporter raises many types
            raise OnnxUnavailable(f"{weights_path.name}: torch.onnx.export failed: "
                                  f"{type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
        if check:
            _check_export(tmp, wrapper, sample, weights_path)
    if out_path is None:
        _prune(weights_path, out)
    return out


def _check_export(path: Path, wrapper: nn.Module, sample: torch.Tensor, weights_path: Path) -> None:
    """Raise ``OnnxUnavailable`` unless the file gives PyTorch's outputs on ``sample`` (max abs
    difference within 1e-3 of the outputs' scale)."""
    sess = _session(path, 1)
    got = sess.run(None, {"crops": sample.numpy()})
    with torch.inference_mode():
        ref = wrapper(sample)
    ref = ref if isinstance(ref, tuple) else (ref,)
    for g, r in zip(got, ref):
        r = r.numpy()
        tol = 1e-3 * max(1.0, float(np.abs(r).max()))
        if g.shape != r.shape or not float(np.abs(g - r).max()) <= tol:
            raise OnnxUnavailable(f"{weights_path.name}: the ONNX export does not reproduce PyTorch "
                                  f"(max difference {float(np.abs(g - r).max()) if g.shape == r.shape else g.shape})")


# -- running -----------------------------------------------------------------------------------
def _session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session of ``path``: all graph optimisations, ``threads`` intra-op
    threads (default: torch's thread count, as the person detector uses), one inter-op thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = max(1, int(threads or torch.get_num_threads()))
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxPose:
    """One exported pose model on ONNX Runtime's CPU provider. ``decoder``: the PyTorch MoveNet
    module whose ``keypoints_from_heads`` decodes a self-decoding graph's heads (None for codec
    models). ``kind``: "float" or "int8"."""

    def __init__(self, path: str | Path, decoder: nn.Module | None = None, threads: int | None = None,
                 kind: str = "float"):
        self.path = Path(path)
        self.kind = kind
        self.session = _session(self.path, threads)
        self.output_names = [o.name for o in self.session.get_outputs()]
        #: whether the graph outputs MoveNet's raw heads (then ``decoder`` decodes them)
        self.own = self.output_names == list(MOVENET_HEADS)
        self.decoder = decoder if self.own else None
        shape = self.session.get_inputs()[0].shape  # [batch, H, W, 3]
        self.input_hw = (int(shape[1]), int(shape[2]))

    @property
    def runtime(self) -> str:
        """What ``series.meta['runtime']`` records: onnxruntime or onnxruntime-int8."""
        return "onnxruntime" if self.kind == "float" else f"onnxruntime-{self.kind}"

    def run(self, crops: np.ndarray) -> list[np.ndarray]:
        """The graph's raw outputs for RGB uint8 crops (N, H, W, 3)."""
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        if crops.ndim != 4 or crops.shape[1:3] != self.input_hw or crops.shape[3] != 3:
            raise ValueError(f"expected RGB uint8 crops (N, {self.input_hw[0]}, {self.input_hw[1]}, 3), "
                             f"got {crops.shape}")
        return self.session.run(None, {"crops": crops})

    def heatmaps(self, crops: np.ndarray, flip_test: bool = False) -> np.ndarray:
        """Float32 heatmaps (N, 6, h, w) of a codec model, as ``predict_heatmaps`` gives them."""
        if not flip_test:
            return self.run(crops)[0].astype(np.float32, copy=False)
        n = len(crops)
        hm = self.run(np.concatenate([crops, crops[:, :, ::-1]]))[0].astype(np.float32, copy=False)
        return np.float32(0.5) * (hm[:n] + hm[n:, list(FLIP_INDEX), :, ::-1])

    def predict_keypoints(self, crops: np.ndarray, codec, flip_test: bool = False
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(heatmaps (N, 6, h, w) float32, joints (N, 6, 2) in input pixels, scores (N, 6)) of RGB
        uint8 crops: ``engine.models.common.predict_keypoints``'s outputs, on ONNX Runtime."""
        if not self.own:
            hm = self.heatmaps(crops, flip_test)
            xy, sc = codec.decode(hm)
            return hm, xy, sc
        if flip_test:
            raise ValueError(f"{self.path.name} decodes its own joints; the flip test is not available for it")
        if self.decoder is None:
            raise ValueError(f"{self.path.name} outputs MoveNet's heads: give OnnxPose the model to decode them")
        heads = dict(zip(MOVENET_HEADS, (torch.from_numpy(a) for a in self.run(crops))))
        with torch.inference_mode():
            hm, xy, sc = self.decoder.keypoints_from_heads(heads, *self.input_hw)
        return hm.float().numpy(), xy.double().numpy(), sc.double().numpy()


def onnx_pose(weights_path: str | Path, model: nn.Module | None = None, int8: bool = False,
              threads: int | None = None, export_missing: bool = True) -> OnnxPose:
    """The ONNX Runtime session of ``weights_path`` (one per file and thread count in a process),
    exporting it first when its cache file is missing or stale (logged). ``model``: the loaded
    PyTorch model (MoveNet's decoder; loaded from the file when needed and not given). ``int8``:
    the statically quantised copy, which only ``python -m engine.export --int8`` makes. Raises
    ``OnnxUnavailable`` with the reason."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise OnnxUnavailable("onnxruntime is not installed (pip install -r requirements.txt)") from None
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise OnnxUnavailable(f"{weights_path}: weights file not found")
    path = onnx_path(weights_path, int8)
    key = (str(path), threads or torch.get_num_threads())
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        if not path.is_file():
            if int8:
                raise OnnxUnavailable(f"no int8 ONNX file for {weights_path.name} (make it with "
                                      "python -m engine.export --int8)")
            if not export_missing:
                raise OnnxUnavailable(f"no ONNX file for {weights_path.name} (python -m engine.export)")
            import time
            if str(path) in _FAILED:
                raise OnnxUnavailable(_FAILED[str(path)])
            t0 = time.perf_counter()
            try:
                export(None, weights_path, check=True)
            except (OnnxUnavailable, OSError) as e:
                _FAILED[str(path)] = str(e)
                raise
            log.warning("exported %s to ONNX (%s, %.1f s)", weights_path.name, path, time.perf_counter() - t0)
        try:
            pose = OnnxPose(path, None, threads, "int8" if int8 else "float")
        except Exception as e:  # onnxruntime's own exception types for a damaged file
            raise OnnxUnavailable(f"{path}: onnxruntime cannot load it: {e}") from e
        if pose.own:  # MoveNet's heads are decoded by the PyTorch module's own code
            if model is None or not getattr(model, "decodes_keypoints", False):
                from .weights import load_model
                model = load_model(weights_path, "cpu")[0]
            pose.decoder = model
        _SESSIONS[key] = pose
        return pose


def pose_or_reason(weights_path: str | Path | None, model: nn.Module | None = None, int8: bool = False,
                   threads: int | None = None) -> tuple[OnnxPose | None, str | None]:
    """(session, None), or (None, why ONNX Runtime cannot be used)."""
    if weights_path is None:
        return None, "no weight file to export (a model given in memory runs on PyTorch)"
    try:
        return onnx_pose(weights_path, model, int8, threads), None
    except (OnnxUnavailable, OSError, ValueError) as e:
        return None, str(e)


def note_fallback(name: str, why: str) -> None:
    """Say once per process and model that it runs on PyTorch instead of ONNX Runtime, and why."""
    if name not in _WARNED:
        _WARNED.add(name)
        log.warning("%s: running on PyTorch, not ONNX Runtime: %s", name, why)
