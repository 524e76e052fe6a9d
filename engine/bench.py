"""``python -m engine.bench``: benchmarks that write their figures to a file (timing is never asserted in tests).

The command lives in ``engine.training.bench``; this entry keeps its name."""
from engine.training.bench import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
