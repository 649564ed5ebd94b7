#!/usr/bin/env bash
# Train the bundled styles on a CPU: one multi-style fast net for every painting in
# styles.json (conditional instance norm), the recipe described in training/recipes/README.md.
#
#   training/recipes/train_styles_cpu.sh RUN_DIR MINUTES
#
# Time-limited and resumable: it continues from RUN_DIR/last.pt, else from the committed
# state training/checkpoints/styles.pt, else starts afresh; every 100 steps it writes a
# checkpoint. To continue a run on another machine or later: cp RUN_DIR/last.pt
# training/checkpoints/styles.pt (1.4 MB with Adam's state, so the resume is exact).
# Two ranks of one thread each (torchrun, gloo) keep both cores of a 2-core CPU busy;
# RANKS=1 THREADS=N for other machines (the batch is per rank: keep RANKS x BATCH = 4).
# Other loss settings than the checkpoint's are refused unless CHANGE_RECIPE=1.
set -euo pipefail
run=$1; minutes=$2
here=$(cd "$(dirname "$0")" && pwd)
shared=${STYLECAM_SHARED:-$here/../../../shared}
committed=$here/../checkpoints/styles.pt
resume=()
if [[ -f $run/last.pt ]]; then resume=(--resume "$run/last.pt")
elif [[ -f $committed ]]; then resume=(--resume "$committed"); fi
paintings=()
for style in $(python -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['styles']))" "$here/styles.json"); do
  paintings+=("$shared/styles/$style.jpg")
done
ranks=${RANKS:-2}
python -m torch.distributed.run --nproc_per_node "$ranks" --master_port "${PORT:-29561}" -m training train \
  --style-image "${paintings[@]}" --data "$shared/photos/train" --out "$run" \
  --arch "${ARCH:-fast_up8}" --image-size 128 --batch-size "${BATCH:-2}" --lr "${LR:-3e-3}" --steps "${STEPS:-60000}" \
  --style-size 512 --style-weight "${STYLE_WEIGHT:-5}" \
  --style-layers "${STYLE_LAYERS:-relu1_2,relu2_2,relu3_3}" --style-layer-weights "${LAYER_WEIGHTS:-0.1,1,10}" \
  --temporal-weight "${TEMPORAL_WEIGHT:-0}" --threads "${THREADS:-1}" --workers 0 \
  --checkpoint-every 100 --sample-every 1000 --log-every 20 --max-minutes "$minutes" --no-progress \
  --vgg-weights "$shared/weights/vgg16_imagenet_caffe_conv1_1-conv4_3.pth" "${resume[@]}" \
  ${CHANGE_RECIPE:+--change-recipe}
