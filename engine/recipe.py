"""``python -m engine.recipe``: the reproducible recipe for the shipped weights.

The command lives in ``engine.training.recipe``; this entry keeps its name."""
from engine.training.recipe import main

if __name__ == "__main__":
    raise SystemExit(main())
