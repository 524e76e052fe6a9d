"""Atomic file writing: outputs go to a temporary name in the same folder, then are renamed
into place, so a crash never leaves a half-written file where a good one stood."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix + ".tmp",
                               dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj, indent: int | None = 2, allow_nan: bool = True) -> Path:
    """Write ``obj`` as JSON atomically (fsync'd before the rename). ``allow_nan=False``:
    standard JSON only (ValueError, nothing written, on a NaN or an infinity)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=indent, allow_nan=allow_nan)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str, error: type[Exception] = ValueError,
                 why: str = "a damaged or replaced file") -> str:
    """The file's sha256 when it is ``expected``; else ``error`` with a message naming the
    file, both digests and ``why``."""
    digest = sha256_file(path)
    if digest != expected:
        raise error(f"{path}: sha256 {digest}, expected {expected} ({why})")
    return digest


#: An absolute POSIX path inside a text (not part of a URL or of a word like left/right, nor
#: quoted: a quoted value is the visitor's own input, such as a file_name the schema refuses).
_ABS_PATH = re.compile(r"(?<![\w.:/~'\"-])(?:/[^\s'\",;:()\[\]{}<>/]+)+/?")


def without_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last part (a file's name): what a
    visitor is shown never says where the server keeps files."""
    return _ABS_PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name or "/", str(text))


def user_message(e: BaseException) -> str:
    """One sentence for a visitor about an error, never Python's own text: the project's
    errors (ValueError and its kinds: InputProblem, VideoError, CocoFormatError, ...) keep
    their words; a file-system error is said by its kind; anything else (a TypeError from a
    value of the wrong type, an internal failure) gets a plain sentence. No server path in any."""
    import errno
    if isinstance(e, OSError) and not type(e).__module__.startswith("engine"):
        name = Path(e.filename).name if getattr(e, "filename", None) else "a file"
        words = {errno.ENOSPC: "The server's storage is full: try again later.",
                 errno.EDQUOT: "The server's storage is full: try again later.",
                 errno.ENOENT: f"{name}: file not found.",
                 errno.EACCES: f"{name}: the server may not read it.",
                 errno.EPERM: f"{name}: the server may not read it.",
                 errno.EISDIR: f"{name} is a folder, not a file.",
                 errno.ENOTDIR: f"{name}: a folder was expected."}
        return words.get(e.errno, "The server could not read or write a file it needed; try again.")
    if isinstance(e, (ValueError, OSError)) and not isinstance(e, UnicodeError):
        return without_paths(str(e))
    if isinstance(e, (TypeError, KeyError, IndexError, AttributeError, UnicodeError)):
        return "A value of the wrong type or shape was sent: check the inputs against the API's description."
    return "Something went wrong on the server while doing that (it is logged); try again."
