"""Start the real app (``python app.py``) on a free loopback port and wait until it answers."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(data_dir: Path, env: dict | None = None, timeout: float = 180.0, log: Path | None = None,
                cwd: Path = ROOT):
    """Run ``python app.py`` in ``cwd`` (default: this checkout) with
    ``SQUATPOSE_DATA_DIR=data_dir``; yield its URL; stop it after. An ``env`` value of None
    unsets that variable."""
    port = free_port()
    full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                "SQUATPOSE_DATA_DIR": str(data_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    log = log or (data_dir / "app.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=cwd, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited with {proc.returncode}: {log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.time() > deadline:
                    raise TimeoutError(f"app did not answer within {timeout} s: {log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
