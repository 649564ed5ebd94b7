#!/usr/bin/env bash
# CPU recipe used for the styles shipped in models/ when no GPU was available.
# Usage: ship_styles_cpu.sh RUNS_DIR MINUTES_PER_STYLE STYLE [STYLE ...]
# Each style trains in a time-limited run (resumable: rerun to continue from last.pt),
# then is exported to models/<style>.onnx with its recipe in the metadata.
# Per-style knobs via environment: STYLE_WEIGHT (0.5), STYLE_SIZE (256), TEMPORAL_WEIGHT (0), STEPS (4000), ARCH (johnson).
# The GPU recipe is the trainer's defaults: --image-size 256 --batch-size 4 --steps 10000+.
set -euo pipefail
runs=$1; minutes=$2; shift 2
shared=${STYLECAM_SHARED:-$(dirname "$0")/../../../shared}
for style in "$@"; do
  out="$runs/$style"
  resume=()
  [[ -f $out/last.pt ]] && resume=(--resume "$out/last.pt")
  python -m training train --style-image "$shared/styles/$style.jpg" --data "$shared/photos/train" \
    --out "$out" --arch "${ARCH:-johnson}" --image-size 128 --batch-size 2 --lr 1e-3 --style-size "${STYLE_SIZE:-256}" \
    --style-weight "${STYLE_WEIGHT:-0.5}" --temporal-weight "${TEMPORAL_WEIGHT:-0}" --steps "${STEPS:-4000}" \
    --threads 1 --workers 0 --checkpoint-every 100 \
    --sample-every 200 --log-every 20 --max-minutes "$minutes" --no-progress \
    --vgg-weights "$shared/weights/vgg16_imagenet_caffe_conv1_1-conv4_3.pth" "${resume[@]}"
done
