"""``python -m engine.pseudolabel``: pseudo-labels: turn videos of people into a COCO keypoints training set with a teacher.

The command lives in ``engine.data.pseudolabel``; this entry keeps its name."""
from engine.data.pseudolabel import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
