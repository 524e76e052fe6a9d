"""``python -m engine.lift3d``: lift the six lower-body joints to 3-D (train, evaluate, predict).

The command lives in ``engine.lifting.cli``; this entry keeps its name."""
from engine.lifting.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
