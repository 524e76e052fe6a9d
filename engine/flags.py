"""``python -m engine.flags``: completeness flags of the six lower-body joints in a COCO person-keypoints file.

The command lives in ``engine.data.flags``; this entry keeps its name."""
from engine.data.flags import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
