"""``python -m engine.detect``: people (boxes and scores) in images or one frame of clips,
found by the shipped person detector.

The command lives in ``engine.video.detect``; this entry keeps its name."""
from engine.video.detect import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
