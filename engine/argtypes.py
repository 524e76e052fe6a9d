"""argparse ``type=`` checks shared by every CLI: a bad value stops the command at parse time
(exit code 2, a one-line message naming the option), before anything is loaded or written.

    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--paste", type=probability)
    p.add_argument("--device", type=device_name)
"""
from __future__ import annotations

import argparse
import math
import re


def _number(text: str, kind=float):
    try:
        v = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def positive_int(text: str) -> int:
    """A whole number of 1 or more."""
    v = _number(text, int)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {v}")
    return v


def non_negative_int(text: str) -> int:
    """A whole number of 0 or more."""
    v = _number(text, int)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {v}")
    return v


def positive_float(text: str) -> float:
    """A finite number above 0."""
    v = _number(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return v


def non_negative_float(text: str) -> float:
    """A finite number of 0 or more."""
    v = _number(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return v


def probability(text: str) -> float:
    """A probability: a number from 0 to 1."""
    v = _number(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, not {text}")
    return v


DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def device_name(text: str) -> str:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (whether it exists is checked when used)."""
    if not DEVICE.match(text or ""):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: use auto, cpu, cuda, cuda:N or mps")
    return text


def run_cli(main, argv=None) -> int:
    """Run a CLI's ``main(argv)`` as ``python -m engine.<verb>`` does: whatever goes wrong, the
    user gets one line on stderr (``error: ...``, words and no traceback) and exit code 2;
    ``SQUATPOSE_DEBUG=1`` shows the traceback instead. Ctrl-C exits 130 quietly."""
    import os
    import sys
    try:
        return main(argv) if argv is not None else main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as e:
        if os.environ.get("SQUATPOSE_DEBUG"):
            raise
        from engine.fileio import user_message
        if isinstance(e, (ValueError, OSError, ImportError, RuntimeError)) and str(e).strip():
            text = str(e)  # the project's own words (paths are the user's own here)
        else:
            text = user_message(e)
        print(f"error: {' '.join(text.split())}", file=sys.stderr)
        return 2
