"""``python -m engine.pretrained``: classify photos with the imported ImageNet MobileNetV2
(``--check`` against the TFLite runtime) and export it as safetensors.

The command lives in ``engine.models.imagenet``."""
import sys

from engine.argtypes import run_cli
from engine.models.imagenet import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
