"""A bounded soak of the running app on loopback: N analyses and M Review decisions in a row
through the app's HTTP API (gradio_client), then the app's resident memory and its data dir's
size. Writes the figures to ``OUT.json`` and a table to ``OUT.md``.

    python scripts/soak.py                       # 30 analyses, 300 decisions -> bench/soak.json, .md
    python scripts/soak.py --analyses 4 --decisions 60 --out /tmp/soak.json

The app runs as ``python app.py`` with a fresh data dir (``--data-dir`` to choose it); the clip
is ``../shared/data/clips/oblique-single.mp4`` (3 s, one rep) and the model the default shipped
model (``--model``); decisions go to coco-mini's flagged people in turn (accept, reject, fix,
undo). Resident memory is the app process's VmRSS (Linux ``/proc``), read after each request.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.argtypes import non_negative_int  # noqa: E402
from engine.fileio import write_json, write_text  # noqa: E402
from engine.storage import path_size  # noqa: E402

SHARED = Path(os.environ.get("SQUATPOSE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def tree_mb(path: Path) -> float:
    """MB of a file or of all the files under a folder."""
    return path_size(path) / 2**20


def start_app(data_dir: Path, log: Path, env: dict) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    full = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
            "SQUATPOSE_DATA_DIR": str(data_dir), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError("the app did not answer within 300 s")


def soak(analyses: int, decisions: int, data_dir: Path, model: str | None, clip: Path,
         coco_ann: Path, coco_images: Path, progress=print) -> dict:
    from gradio_client import Client, handle_file
    data_dir.mkdir(parents=True, exist_ok=True)
    proc, url = start_app(data_dir, data_dir / "app.log", {})
    try:
        client = Client(url, verbose=False)
        if model is None:
            from demo.compare import available_models
            model = available_models()[0]
        rss = {"started": rss_mb(proc.pid)}
        seconds, reps = [], []
        for i in range(analyses):
            t0 = time.perf_counter()
            out = client.predict(handle_file(str(clip)), [model], api_name="/analyze")
            seconds.append(time.perf_counter() - t0)
            reps.append(out[model]["reps"])
            rss[f"analysis {i + 1}"] = rss_mb(proc.pid)
            progress(f"analysis {i + 1}/{analyses}: {seconds[-1]:.1f} s, {out[model]['reps']} reps, "
                     f"RSS {rss[f'analysis {i + 1}']:.0f} MB")
        people = [a["id"] for a in json.loads(coco_ann.read_text())["annotations"] if not a.get("iscrowd")]
        kinds = ["accept", "reject", "fix", "undo"]
        t0 = time.perf_counter()
        for k in range(decisions):
            aid, kind = people[k % len(people)], kinds[k % len(kinds)]
            fixes = json.dumps({"left_knee": [10.0 + k % 50, 20.0, 2]}) if kind == "fix" else ""
            client.predict(str(coco_ann), aid, kind, fixes, f"soak {k}", api_name="/review_decide")
        decide_s = time.perf_counter() - t0
        rss["after decisions"] = rss_mb(proc.pid)
        progress(f"{decisions} decisions in {decide_s:.1f} s, RSS {rss['after decisions']:.0f} MB")
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    after_first = rss.get("analysis 1", rss["started"])
    values = list(rss.values())
    return {
        "analyses": analyses, "decisions": decisions, "model": model, "clip": clip.name,
        "reps_per_analysis": sorted(set(reps)), "app_alive_at_end": alive,
        "analysis_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
        "decisions_per_second": round(decisions / decide_s, 1) if decisions else None,
        "rss_mb_started": round(rss["started"], 1), "rss_mb_after_first_analysis": round(after_first, 1),
        "rss_mb_end": round(values[-1], 1), "rss_mb_max": round(max(values), 1),
        "rss_mb_growth_after_first_analysis": round(values[-1] - after_first, 1),
        "data_dir_mb": round(tree_mb(data_dir), 2),
        "data_dir_mb_by_folder": {p.name: round(tree_mb(p), 2)
                                  for p in sorted(data_dir.iterdir())},
        "quota_mb": float(os.environ.get("SQUATPOSE_DISK_QUOTA_MB", 2048)),
        "rss_mb_trace": {k: round(v, 1) for k, v in rss.items()},
        "machine": f"{os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python scripts/soak.py " + " ".join(sys.argv[1:]),
    }


def table(r: dict) -> str:
    rows = [("analyses in a row", r["analyses"]), ("Review decisions in a row", r["decisions"]),
            ("model / clip", f"{r['model']} / {r['clip']}"), ("reps per analysis", r["reps_per_analysis"]),
            ("median seconds per analysis", r["analysis_seconds_median"]),
            ("decisions per second", r["decisions_per_second"]),
            ("resident memory at start (MB)", r["rss_mb_started"]),
            ("after the first analysis (MB)", r["rss_mb_after_first_analysis"]),
            ("at the end (MB)", r["rss_mb_end"]), ("highest (MB)", r["rss_mb_max"]),
            ("growth after the first analysis (MB)", r["rss_mb_growth_after_first_analysis"]),
            ("data dir at the end (MB)", r["data_dir_mb"]),
            ("... by folder (MB)", ", ".join(f"{k} {v}" for k, v in r["data_dir_mb_by_folder"].items())),
            ("app still serving", r["app_alive_at_end"])]
    return (f"# Soak ({r['date']}, {r['machine']})\n\n`{r['command']}`\n\n| figure | value |\n|---|---|\n"
            + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--analyses", type=non_negative_int, default=30, help="analyses in a row (default 30)")
    p.add_argument("--decisions", type=non_negative_int, default=300, help="Review decisions (default 300)")
    p.add_argument("--model", help="model to run (default: the app's first, the shipped default)")
    p.add_argument("--clip", default=str(SHARED / "clips" / "oblique-single.mp4"), help="the clip")
    p.add_argument("--data-dir", help="the app's data dir (default: a new temporary folder)")
    p.add_argument("--out", default=str(ROOT / "bench" / "soak.json"), help="figures (JSON; .md beside)")
    args = p.parse_args(argv)
    coco = SHARED / "coco-mini"
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="squatpose-soak-"))
    r = soak(args.analyses, args.decisions, data_dir, args.model, Path(args.clip),
             coco / "annotations" / "person_keypoints_train2017.json", coco / "train2017")
    write_json(args.out, r)
    write_text(Path(args.out).with_suffix(".md"), table(r))
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
