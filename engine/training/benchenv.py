"""What every benchmark records about the machine it ran on (``engine.bench``): torch, threads,
device, date and the load average, and the note the tables print about the load."""
from __future__ import annotations

import os
import platform
import time

import torch


def bench_env(threads: int, device: torch.device) -> dict:
    return {"torch": torch.__version__, "threads": threads, "device": str(device),
            "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average": load_average()}


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (None where the OS has none): on a
    shared machine the figures mean little without them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def load_note(env: dict) -> str:
    """'load average A at the start, B at the end' (1-minute), or '' when not recorded."""
    start, end = env.get("load_average"), env.get("load_average_end")
    if not start:
        return ""
    return f"; load average {start[0]} at the start" + (f", {end[0]} at the end" if end else "")
