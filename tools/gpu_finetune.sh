#!/usr/bin/env bash
# Fine-tune the shipped recogniser on a lent GPU machine (see README, tools/train_recogniser.py).
#
#   tools/gpu_finetune.sh prepare        # here: fill .devbundle/ (carry it to the GPU machine)
#   MIN=8 tools/gpu_finetune.sh run      # there, from the repo root: two fine-tunes side by side
#
# Why a bundle: the GPU machine reaches no package registry and sees only the repository, so
# the real training crops (../shared, beside the checkout), the TrueType faces and the Python
# packages its image lacks (pydantic for edge.config, easyocr for the network's modules) travel
# with it. The crops travel as JPEG q95 under their own names: the held-out split hashes the
# name, and PNG would not fit the 64 MiB a call may carry. Each run writes its best weights and
# manifest to $OUT/a.* and $OUT/b.*: compare them with the shipped model (README, "Where it
# stands") before one replaces models/plate_rec.pth.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.devbundle

prepare() {
    local crops=../shared/datasets/openalpr-us-platecrops py=.venv/bin/python
    mkdir -p "$BUNDLE/crops" "$BUNDLE/fonts" "$BUNDLE/whl"
    "$py" - "$crops" "$BUNDLE/crops" <<'PY'
import csv, shutil, sys
from pathlib import Path
import cv2
source, target = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copy(source / "labels.csv", target / "labels.csv")
for row in csv.DictReader((source / "labels.csv").open(newline="")):
    image = cv2.imread(str(source / row["file"]), cv2.IMREAD_COLOR)
    (target / row["file"]).write_bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
PY
    cp /usr/share/fonts/truetype/dejavu/DejaVuSans{,-Bold}.ttf /usr/share/fonts/truetype/dejavu/DejaVuSansMono{,-Bold}.ttf \
        "$BUNDLE/fonts/"
    local pins=()
    for package in easyocr pydantic pydantic-core annotated-types typing-inspection typing-extensions python-bidi; do
        pins+=("$package==$("$py" -m pip show "$package" | awk '/^Version/ {print $2}')")
    done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$BUNDLE/whl" "${pins[@]}"
    du -sh "$BUNDLE"
}

run() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$BUNDLE"/whl/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    mkdir -p /usr/share/fonts/truetype/dejavu && cp "$BUNDLE"/fonts/*.ttf /usr/share/fonts/truetype/dejavu/
    local common=(--init models/plate_rec.pth --real-dir "$BUNDLE/crops" --batch-size 128 --workers "${WORKERS:-7}"
                  --threads 1 --warmup 300 --eval-every 750 --log-every 100 --typeface-share 0.25 --furniture-share 0.5
                  --real-fraction 0.5 --max-minutes "${MIN:-8}" --steps 20000 --fresh --lr 2e-4)
    python3 tools/train_recogniser.py "${common[@]}" --seed 17 --runs /tmp/runs-a --out /tmp/model-a > "$OUT/a.log" 2>&1 &
    python3 tools/train_recogniser.py "${common[@]}" --seed 18 --real-far-share 0.3 --real-framed-share 0.3 \
        --real-degrade-share 0.2 --runs /tmp/runs-b --out /tmp/model-b > "$OUT/b.log" 2>&1 &
    wait
    for run in a b; do
        cp "/tmp/model-$run/plate_rec.pth" "$OUT/$run.pth"
        cp "/tmp/model-$run/MANIFEST.json" "$OUT/$run.json"
    done
    tail -n 3 "$OUT/a.log" "$OUT/b.log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
