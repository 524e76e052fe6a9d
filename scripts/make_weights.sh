#!/usr/bin/env bash
# The recipe behind weights/: build the training set, train the five models, ship them as
# fp16 with sidecars and cards, and score them beside MediaPipe. Resumable: run it again after
# an interruption and each model continues from its last checkpoint.
#
#   scripts/make_weights.sh [SHARED_DATA (default ../shared/data)] [WORK (default data/recipe)]
#
# Needs requirements.txt and requirements-mediapipe.txt (the teacher); several hours on
# 2 CPU cores, far less on a GPU (engine.train uses CUDA when present).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-../shared/data}
WORK=${2:-data/recipe}
EXTRA=$WORK/extra-videos
if [ ! -f "$EXTRA/sports2d/demo.mp4" ]; then
  # the demo videos of people inside two wheels on PyPI (no model hub needed)
  pip download --no-deps pose2sim==0.10.49 sports2d==0.8.34 -d "$WORK/wheels"
  python -m zipfile -e "$WORK/wheels/pose2sim-0.10.49-py3-none-any.whl" "$WORK/wheels/pose2sim"
  python -m zipfile -e "$WORK/wheels/sports2d-0.8.34-py3-none-any.whl" "$WORK/wheels/sports2d"
  mkdir -p "$EXTRA/single" "$EXTRA/sports2d"
  cp "$WORK"/wheels/pose2sim/Pose2Sim/Demo_SinglePerson/videos/cam0?.mp4 "$EXTRA/single/"
  cp "$WORK/wheels/sports2d/Sports2D/Demo/demo.mp4" "$EXTRA/sports2d/"
fi
python -m engine.teacher install   # the recipe's teacher, BlazePose heavy (npm @mediapipe/pose)
if [ ! -f "$WORK/lsp/lsp-audited.json" ]; then
  # Leeds Sports Pose with the heavy teacher's label audit (about 1.5 hours on 2 CPU cores; the
  # teacher's landmarks are cached beside the output, so an interrupted run resumes)
  python -m engine.convert lsp "$SHARED/lsp-extended" --out "$WORK/lsp/lsp.json"
  python -m engine.audit "$WORK/lsp/lsp.json" "$SHARED/lsp-extended/images" --teacher mediapipe-heavy \
    --out "$WORK/lsp/lsp-audited.json"
fi
if [ ! -f "$WORK/split.json" ] || ! grep -q lsp_train_people "$WORK/split.json"; then
  python -m engine.recipe data --shared "$SHARED" --work "$WORK" \
    --extra-videos "$EXTRA/single" "$EXTRA/sports2d" "$SHARED/clips-unlabelled"
fi
for m in mobilenetv2 dilated attention resnet18_fpn resnet18; do
  python -m engine.recipe train "$m" --work "$WORK" --threads "${THREADS:-2}" --resume
  python -m engine.recipe ship "$m" --work "$WORK"
done
# the ONNX Runtime files of every shipped weight file (weights/.onnx/, docs/onnx.md): the
# scorecard runs the clips as the app does, on ONNX Runtime
python -m engine.export
python -m engine.scorecard --work "$WORK" --clips "$SHARED/clips" --out weights/scorecard.json
