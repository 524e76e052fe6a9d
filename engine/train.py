"""``python -m engine.train``: train a heatmap model on COCO person keypoints (six lower-body joints).

The command lives in ``engine.training.train``; this entry keeps its name."""
from engine.training.train import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
