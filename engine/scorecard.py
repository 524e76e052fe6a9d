"""``python -m engine.scorecard``: the shipped models' report card, measured side by side with MediaPipe in one run.

The command lives in ``engine.training.scorecard``; this entry keeps its name."""
from engine.training.scorecard import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
