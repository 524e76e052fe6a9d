"""``python -m engine.teacher``: install the heavy BlazePose teacher (npm @mediapipe/pose) and say
which teachers can run.

The command lives in ``engine.video.blazepose_models``; this entry keeps its name."""
from engine.video.blazepose_models import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
