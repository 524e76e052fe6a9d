#!/bin/bash
# Issue 29: held-out PCK on PyTorch and ONNX Runtime (float, and int8 for the four MoveNets) for every shipped model
cd "$(dirname "$0")/.."
rm -rf runs/ort && mkdir -p runs/ort
# every shipped model, and the MoveNets among them (int8 too), from the weights themselves
models=$(python -c "from engine.models.weights import shipped_weights; print(' '.join(shipped_weights()))")
movenets=$(for m in $models; do case $m in movenet_*) echo "$m";; esac; done)
python -m engine.export 2>&1 | tail -3
python -m engine.export --models $movenets --int8 2>&1 | tail -3
for m in $models; do
  rts="torch onnx"; case $m in movenet_*) rts="torch onnx onnx-int8";; esac
  for rt in $rts; do
    for set in lsp coco; do
      python -m engine.evaluate --weights weights/$m.safetensors --ann data/recipe/val-$set.json --images data/recipe \
        --runtime $rt --out runs/ort/$m-$set-$rt.json > runs/ort/$m-$set-$rt.log 2>&1 || echo "FAILED $m $set $rt"
      python3 -c "import json,sys; r=json.load(open('runs/ort/$m-$set-$rt.json')); print('$m $set $rt', round(r['pck@0.05'],4), round(r['pck@0.1'],4), r.get('runtime'))"
    done
  done
done
python3 - <<'PY'
import glob, json, os
rows = {}
for f in sorted(glob.glob("runs/ort/*.json")):
    r = json.load(open(f))
    m, s, rt = os.path.basename(f)[:-5].rsplit("-", 2) if not f.endswith("-onnx-int8.json") else \
        (*os.path.basename(f)[:-len("-onnx-int8.json")].rsplit("-", 1), "onnx-int8")
    rows.setdefault(m, {}).setdefault(s, {})[rt] = {"pck@0.05": round(r["pck@0.05"], 4), "pck@0.1": round(r["pck@0.1"], 4),
                                                    "people": r["instances"]}
os.makedirs("bench", exist_ok=True)
json.dump({"command": "scripts/onnx_heldout.sh (after python -m engine.recipe heldout)", "results": rows},
          open("bench/onnx-heldout.json", "w"), indent=1)
print("wrote bench/onnx-heldout.json")
PY
