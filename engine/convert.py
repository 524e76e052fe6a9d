"""``python -m engine.convert``: other datasets' labels (Leeds Sports Pose) -> COCO person keypoints.

The command lives in ``engine.data.convert``; this entry keeps its name."""
from engine.data.convert import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
