"""``python -m engine.audit``: a teacher (BlazePose heavy) checks every labelled person of a COCO
file and flags swapped left/right, far joints and missed joints.

The command lives in ``engine.data.audit``; this entry keeps its name."""
from engine.data.audit import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
