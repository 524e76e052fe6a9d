"""``python -m engine.analyze``: analyse a squat clip: joints per frame, repetitions, angles and feedback.

The command lives in ``engine.video.pipeline``; this entry keeps its name."""
from engine.video.pipeline import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
