"""Reading and writing video.

Reading: any clip OpenCV's FFmpeg backend decodes (mp4, mov, webm, avi, ...), upright (the
container's rotation metadata is applied, as phone videos need), as RGB uint8 frames. The
decoded frames are trusted over the container's frame count (some files claim more frames
than they hold, a raw stream saved as .mp4 claims a negative count). Limits on what is decoded
(``decode_limits``): inside that block every clip opened stops with ``LimitExceeded`` as soon as
decoding passes the duration / frame-count budget or a frame is larger than the pixel limit,
whatever the header says, so memory and time stay bounded by the limits. ``count_frames``
counts a clip's video packets by demuxing it (no decoding; a fraction of a second). Writing: browser-playable H.264 (yuv420p, faststart) through the ffmpeg
binary that ships inside the ``imageio-ffmpeg`` wheel, to a temporary name renamed into place.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from engine.fileio import atomic_path

# OpenCV's own warnings about unreadable files would only repeat the VideoError we raise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


#: Smallest frame side (pixels) the reader accepts: a person's lower body must fit in it.
MIN_SIDE = 16
#: Frame rate at which a stream that states none (a raw elementary stream: MJPEG, H.264, ...,
#: for which ffmpeg and OpenCV assume 25) is held to the duration limit: its frames carry no
#: clock, so the limit counts them at the slowest rate a squat clip is filmed at, never at
#: the 25 the decoder guesses (a 100 s MJPEG stream filmed at 10 frames/s passed as 40 s).
RATELESS_FPS = 10.0
#: ffmpeg demuxers of raw streams (no container, no timestamps), besides every ``*_pipe``.
_RAW_FORMATS = {"h264", "hevc", "mjpeg", "mpegvideo", "m4v", "cavsvideo", "vc1", "rawvideo",
                "image2pipe", "h263", "dirac", "avs2", "avs3", "vvc", "evc", "obu", "ivf_raw",
                "mjpeg_2000", "dnxhd", "yuv4mpegpipe"}


class VideoError(ValueError):
    """A clip that cannot be read; the message says which file and what is wrong."""


class LimitExceeded(VideoError):
    """Decoding passed a limit of ``decode_limits``: ``kind`` is 'duration' or 'pixels'."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodeLimits:
    """What one clip may decode to: seconds (at the clip's frame rate), frames, and pixels on
    the longer side. None: no limit of that kind."""

    max_seconds: float | None = None
    max_frames: int | None = None
    max_side: int | None = None

    def frame_budget(self, fps: float) -> int | None:
        """Frames that may be decoded at ``fps``: the duration limit (plus half a second of
        rounding) and the frame-count limit, whichever is smaller."""
        budget = []
        if self.max_seconds is not None:
            budget.append(int(math.floor((self.max_seconds + 0.5) * fps)))
        if self.max_frames is not None:
            budget.append(int(self.max_frames))
        return min(budget) if budget else None

    def too_long(self, fps: float, frames: int | None = None, more: bool = True) -> str:
        """The one message for a clip over the duration or frame-count limit, ``frames``
        being the frames counted (``more``: and there are more)."""
        over = "more than " if more else ""
        dur_budget = (math.floor((self.max_seconds + 0.5) * fps) if self.max_seconds is not None
                      else None)
        if dur_budget is not None and (frames is None or frames >= dur_budget):
            lasts = f"more than {self.max_seconds:.0f}" if more or frames is None else f"{frames / fps:.0f}"
            return (f"The clip lasts {lasts} s, over the {self.max_seconds:.0f} s limit: trim it to "
                    "the set you want analysed.")
        return (f"The clip has {over}{frames} frames, over the {self.max_frames}-frame limit: trim "
                "it, or export it at a lower frame rate.")

    def too_large(self, w: int, h: int) -> str:
        """The one message for a clip over the pixel limit."""
        return (f"The clip is {w}x{h}, over the {self.max_side}-pixel resolution limit: "
                "export it at 1080p or smaller.")


@dataclass(frozen=True)
class Header:
    """What a clip's container (or its first frame's header) says, read without decoding."""

    format: str  # ffmpeg's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2", "jpeg_pipe", "h264", ...)
    width: int  # pixels, 0 when the header gives none
    height: int

    @property
    def rateless(self) -> bool:
        """A raw stream: no container, so no frame rate and no timestamps."""
        names = set(self.format.split(","))
        return bool(names & _RAW_FORMATS) or any(n.endswith("_pipe") for n in names)


_HEADERS: dict[tuple, Header] = {}
_STREAM = re.compile(r"Stream #0:\d+.*?: Video: .*?[ ,](\d{1,6})x(\d{1,6})(?=[ ,\[]|$)", re.M)


def read_header(path: str | os.PathLike, timeout: float = 30.0) -> Header:
    """The container format and the first video stream's width x height, as ffmpeg reads them
    from the headers (the container's, or the first frame's: a JPEG's SOF, an H.264 SPS);
    nothing is decoded, so a frame claiming 16000x16000 costs no memory here (ffmpeg's own
    process stays near 40 MB). Cached by path, size and modification time."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _HEADERS:
        return _HEADERS[key]
    try:
        out = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(p)],
                             capture_output=True, text=True, errors="replace", timeout=timeout).stderr
    except subprocess.TimeoutExpired:
        raise VideoError(f"{p.name}: reading its header took over {timeout:.0f} s") from None
    fmt = re.search(r"Input #0, ([^ ]+), from", out)
    m = _STREAM.search(out)
    head = Header(fmt.group(1).rstrip(",") if fmt else "", int(m.group(1)) if m else 0,
                  int(m.group(2)) if m else 0)
    if len(_HEADERS) > 256:
        _HEADERS.clear()
    _HEADERS[key] = head
    return head


_LIMITS: contextvars.ContextVar[DecodeLimits | None] = contextvars.ContextVar(
    "squatpose_decode_limits", default=None)


@contextlib.contextmanager
def decode_limits(limits: DecodeLimits | None):
    """Every clip opened inside this block (in this thread / task) obeys ``limits``."""
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


class Video:
    """An open clip. Use as a context manager; ``frames()`` yields (frame index, RGB frame)."""

    def __init__(self, path: str | os.PathLike, stride: int = 1, max_seconds: float | None = None):
        self.path = Path(path)
        if stride < 1:
            raise ValueError("stride must be at least 1")
        self.stride = stride
        self.max_seconds = max_seconds
        if self.path.is_dir():
            raise VideoError(f"{self.path.name}: is a folder, not a video file")
        if not self.path.is_file():
            raise VideoError(f"{self.path.name}: file not found")
        if self.path.stat().st_size == 0:
            raise VideoError(f"{self.path.name}: the file is empty")
        #: the limits this clip obeys (``decode_limits`` when it was opened)
        self.limits = _LIMITS.get()
        #: whether the clip states no frame rate (a raw stream; known only under limits)
        self.rateless = False
        if self.limits is not None:  # the header first: refuse a huge frame before decoding it
            head = read_header(self.path)
            self.rateless = head.rateless
            if self.limits.max_side is not None and max(head.width, head.height) > self.limits.max_side:
                raise LimitExceeded(self.limits.too_large(head.width, head.height), "pixels")
        self._cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise VideoError(f"{self.path.name}: not a video OpenCV can decode (is it really a "
                             "video file? mp4, mov, webm and avi work)")
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        ok, first = self._cap.read()
        if not ok or first is None or first.size == 0:
            self._cap.release()
            raise VideoError(f"{self.path.name}: no frame could be decoded (broken or empty video)")
        self._first = first
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        #: frames per second the container reports (30 assumed when it reports none)
        self.fps = fps if 0 < fps < 1000 else 30.0
        #: (width, height) of the upright frames
        self.frame_size = (int(first.shape[1]), int(first.shape[0]))
        claimed = float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        #: frame count the container claims, 0 when it claims nothing sensible (a raw stream
        #: claims a negative count); may be wrong either way: decoding decides
        self.frame_count = int(claimed) if math.isfinite(claimed) and 0 < claimed < 2**31 else 0
        self._used = False
        w, h = self.frame_size
        if min(w, h) < MIN_SIDE:
            self._cap.release()
            raise VideoError(f"{self.path.name}: frames are {w}x{h} pixels, too small to find a "
                             f"person in (at least {MIN_SIDE} pixels a side)")
        self._check_side(w, h)

    def _check_side(self, w: int, h: int) -> None:
        lim = self.limits
        if lim is not None and lim.max_side is not None and max(w, h) > lim.max_side:
            self._cap.release()
            raise LimitExceeded(lim.too_large(w, h), "pixels")

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._cap.release()

    @property
    def limit_fps(self) -> float:
        """The rate at which the duration limit counts this clip's frames: its frame rate, or
        ``RATELESS_FPS`` (when lower) for a stream that states none."""
        return min(self.fps, RATELESS_FPS) if self.rateless else self.fps

    @property
    def claimed_frames(self) -> int:
        """The container's frame count (same as ``frame_count``; decoding may yield fewer)."""
        return self.frame_count

    @property
    def duration(self) -> float:
        """Claimed duration in seconds (frame count / fps)."""
        return self.frame_count / self.fps if self.fps else 0.0

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index in the decoded clip, RGB uint8 frame) for every ``stride``-th frame of
        the first ``max_seconds``. A clip can be iterated once."""
        if self._used:
            raise RuntimeError("Video.frames() can be iterated only once; open the clip again")
        self._used = True
        last = int(self.max_seconds * self.fps) if self.max_seconds is not None else None
        budget = self.limits.frame_budget(self.limit_fps) if self.limits is not None else None
        i, frame = 0, self._first
        while frame is not None:
            if last is not None and i >= last:
                break
            if budget is not None and i >= budget:
                self._cap.release()
                raise LimitExceeded(self.limits.too_long(self.limit_fps, i), "duration")
            if frame.shape[:2] != self._first.shape[:2]:  # a stream may change size midway
                self._check_side(frame.shape[1], frame.shape[0])
            if i % self.stride == 0:
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ok, frame = self._cap.read()
            if not ok:
                break
            i += 1


def open_video(path: str | os.PathLike, stride: int = 1, max_seconds: float | None = None) -> Video:
    """Open a clip for reading; raises VideoError with a clear message when it cannot be read."""
    return Video(path, stride, max_seconds)


def probe(path: str | os.PathLike) -> dict:
    """fps, (width, height), claimed frame count and duration of a clip, without decoding it all."""
    with open_video(path) as v:
        return {"fps": v.fps, "frame_size": list(v.frame_size), "claimed_frames": v.frame_count,
                "claimed_seconds": round(v.duration, 3)}


def count_frames(path: str | os.PathLike, stop_after: int | None = None, timeout: float = 60.0) -> int:
    """Video packets in the clip's first video stream, counted by demuxing the whole file
    with ffmpeg (no decoding, whatever the header claims); stops once ``stop_after`` are
    counted. Each packet is at most one decoded frame, so this bounds what decoding yields.
    VideoError when ffmpeg cannot read the file."""
    path = Path(path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:v:0",
           "-c", "copy"]
    if stop_after is not None:
        cmd += ["-frames:v", str(int(stop_after))]
    cmd += ["-f", "null", "-progress", "pipe:1", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VideoError(f"{path.name}: counting its frames took over {timeout:.0f} s") from None
    counts = [line.split("=", 1)[1] for line in out.stdout.splitlines() if line.startswith("frame=")]
    if not counts or not counts[-1].strip().isdigit():
        raise VideoError(f"{path.name}: its video stream could not be read")
    return int(counts[-1])


def ffmpeg_exe() -> str:
    """The ffmpeg binary that ships inside the imageio-ffmpeg wheel."""
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Write RGB frames as browser-playable H.264 mp4; the file appears only on ``close()``
    after a successful encode (temporary name, then rename). Use as a context manager."""

    def __init__(self, path: str | os.PathLike, fps: float, frame_size: tuple[int, int], crf: int = 23,
                 preset: str = "veryfast"):
        self.path = Path(path)
        self.frame_size = (int(frame_size[0]) // 2 * 2, int(frame_size[1]) // 2 * 2)  # yuv420p: even
        self._ctx = atomic_path(self.path, suffix=".tmp.mp4")
        self._tmp = self._ctx.__enter__()
        w, h = self.frame_size
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", f"{fps:.6f}", "-i", "-", "-an", "-c:v", "libx264",
               "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames_written = 0

    def write(self, frame_rgb: np.ndarray) -> None:
        w, h = self.frame_size
        f = np.ascontiguousarray(frame_rgb[:h, :w, :3], dtype=np.uint8)
        if f.shape[:2] != (h, w):
            raise ValueError(f"frame is {frame_rgb.shape[1]}x{frame_rgb.shape[0]}, writer expects {w}x{h}")
        self._proc.stdin.write(f.tobytes())
        self.frames_written += 1

    def close(self, ok: bool = True) -> None:
        self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace")
        rc = self._proc.wait()
        if ok and rc != 0:
            ok = False
            self._ctx.__exit__(RuntimeError, RuntimeError(err), None)
            raise RuntimeError(f"ffmpeg could not write {self.path.name}: {err.strip()[-500:]}")
        if ok and self.frames_written == 0:
            self._ctx.__exit__(RuntimeError, RuntimeError("no frames"), None)
            raise RuntimeError(f"no frames were written to {self.path.name}")
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close(True)
        else:
            try:
                self.close(False)
            except Exception:  # the original error matters more
                pass
