"""``python -m engine.analyze``: analyse a squat clip: joints per frame, repetitions, angles and feedback.

The command lives in ``engine.video.pipeline``; this entry keeps its name."""
from engine.video.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
