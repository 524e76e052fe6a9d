"""``python -m engine.evaluate``: evaluate weights on a COCO keypoints file: PCK@0.05 / @0.1 (see ``engine.training.metrics``),

The command lives in ``engine.training.evaluate``; this entry keeps its name."""
from engine.training.evaluate import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
