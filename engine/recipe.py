"""``python -m engine.recipe``: the reproducible recipe for the shipped weights.

The command lives in ``engine.training.recipe``; this entry keeps its name."""
from engine.training.recipe import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
