#!/usr/bin/env bash
# Train bundled styles on a CPU, one net per painting, the recipe described in
# training/recipes/README.md.
#
#   training/recipes/train_style_cpu.sh RUN_DIR MINUTES STYLE [STYLE ...]
#
# Each STYLE (a name from styles.json) trains its own fast_up8 net in RUN_DIR/STYLE for
# MINUTES, two styles at a time (one thread each: both cores of a 2-core CPU); more styles
# than that run in pairs, one pair after the other.
# Time-limited and resumable: a style continues from RUN_DIR/STYLE/last.pt, else from the
# committed state training/checkpoints/STYLE$SUFFIX.pt (another folder: CHECKPOINTS), else
# starts afresh; every 100 steps it writes a checkpoint. To continue elsewhere or later:
#   cp RUN_DIR/STYLE/last.pt training/checkpoints/STYLE.pt   (~1.2 MB with Adam's state)
# A style that starts afresh starts from the weights of its "init" in styles.json (another
# bundled style's committed state) or of the checkpoint INIT names, else from random weights.
# Style weight 5 on relu1_2/2_2/3_3 weighted alike, the painting at 512 px, unless the
# style's "train" entry in styles.json sets its own style_weight / style_layer_weights /
# style_size (the balance that keeps that photo's content under that painting; a smaller
# painting gives smaller strokes), and what the temporal loss teaches the net to ignore:
# temporal_noise (sensor grain), temporal_local_motion (px of motion that differs across the
# picture), temporal_codec_quality (JPEG block noise), plain_crops (the share of crops made
# plain surfaces); unset, training's own defaults. Temporal loss weight TEMPORAL_WEIGHT (default 0).
# Other loss settings than the checkpoint's are refused unless CHANGE_RECIPE=1.
set -euo pipefail
run=$1; minutes=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
shared=${STYLECAM_SHARED:-$here/../../../shared}
parallel=${PARALLEL:-2}
checkpoints=${CHECKPOINTS:-$here/../checkpoints}  # the committed states

# a style's own training setting (styles.json "train"), else the default: setting STYLE KEY DEFAULT
setting() { (cd "$here/../.." && python -m training.recipes setting "$@"); }

train_one() {
  local style=$1 style_dir=$run/$1 start=()
  # the style's own settings; environment variables win
  local style_weight=${STYLE_WEIGHT:-$(setting "$style" style_weight 5)}
  local layer_weights=${LAYER_WEIGHTS:-$(setting "$style" style_layer_weights "")}
  local style_size=${STYLE_SIZE:-$(setting "$style" style_size 512)}
  local temporal_noise=${TEMPORAL_NOISE:-$(setting "$style" temporal_noise "")}
  local local_motion=${TEMPORAL_LOCAL_MOTION:-$(setting "$style" temporal_local_motion "")}
  local codec_quality=${TEMPORAL_CODEC_QUALITY:-$(setting "$style" temporal_codec_quality "")}
  local plain_crops=${PLAIN_CROPS:-$(setting "$style" plain_crops "")}
  local init=${INIT:-$(setting "$style" init "")}
  [[ -z $init || -f $init ]] || init=$checkpoints/$init.pt  # a bundled style's name
  if [[ -f $style_dir/last.pt ]]; then start=(--resume "$style_dir/last.pt")
  elif [[ -f $checkpoints/$style${SUFFIX:-}.pt ]]; then start=(--resume "$checkpoints/$style${SUFFIX:-}.pt")
  elif [[ -n $init ]]; then start=(--init "$init"); fi
  mkdir -p "$style_dir"
  python -m training train \
    --style-image "$shared/styles/$style.jpg" --data "$shared/photos/train" --out "$style_dir" \
    --arch "${ARCH:-fast_up8}" --image-size "${IMAGE_SIZE:-256}" --batch-size "${BATCH:-1}" --lr "${LR:-3e-3}" \
    --steps "${STEPS:-60000}" --style-size "$style_size" --style-weight "$style_weight" \
    --style-layers "${STYLE_LAYERS:-relu1_2,relu2_2,relu3_3}" ${layer_weights:+--style-layer-weights "$layer_weights"} \
    --temporal-weight "${TEMPORAL_WEIGHT:-0}" ${temporal_noise:+--temporal-noise "$temporal_noise"} \
    ${local_motion:+--temporal-local-motion "$local_motion"} \
    ${codec_quality:+--temporal-codec-quality "$codec_quality"} ${plain_crops:+--plain-crops "$plain_crops"} --threads "${THREADS:-1}" --workers 0 \
    --checkpoint-every 100 --sample-every 1000 --log-every 20 --max-minutes "$minutes" --no-progress \
    --vgg-weights "$shared/weights/vgg16_imagenet_caffe_conv1_1-conv4_3.pth" "${start[@]}" \
    ${CHANGE_RECIPE:+--change-recipe} > "$style_dir/train.log" 2>&1
}

status=0
styles=("$@")
for ((i = 0; i < ${#styles[@]}; i += parallel)); do
  pids=()
  for style in "${styles[@]:i:parallel}"; do
    train_one "$style" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
done
exit $status
