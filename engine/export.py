"""``python -m engine.export``: export the shipped pose models to ONNX for ONNX Runtime (and,
with ``--int8``, their statically quantised copies).

The command lives in ``engine.models.onnx_cli``; this entry keeps its name."""
from engine.models.onnx_cli import main
from engine.argtypes import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
