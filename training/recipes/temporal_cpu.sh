#!/usr/bin/env bash
# The last phase of a bundled style, after train_style_cpu.sh: from its committed state
# training/checkpoints/STYLE.pt, fine-tune with the temporal loss (the net that ships: steady
# video without smoothing) and, for as many steps without it, its plain twin (what
# `python -m benchmarks.temporal --styles` measures the temporal net against).
#
#   training/recipes/temporal_cpu.sh RUN_DIR STYLE [STYLE ...]
#
# Writes RUN_DIR/temporal/STYLE and RUN_DIR/plain/STYLE, the two of a style at once (one
# thread each: both cores of a 2-core CPU), one style after the other; resumable like
# train_style_cpu.sh. A style whose styles.json entry has soup_temporal_weight and soup_share
# also fine-tunes, as many steps, at that weight (RUN_DIR/temporal_soup/STYLE, both threads),
# and ships the soup of the two temporal nets (training/soup.py, RUN_DIR/soup/STYLE/last.pt,
# which distil_pair_cpu.sh takes as the temporal net). Then:
#   python training/recipes/export_styles.py RUN_DIR/temporal/STYLE/last.pt STYLE --variant fast
#   python training/recipes/export_styles.py RUN_DIR/plain/STYLE/last.pt STYLE --plain-twin
set -euo pipefail
run=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
checkpoints=${CHECKPOINTS:-$here/../checkpoints}  # the committed states
setting() { (cd "$here/../.." && python -m training.recipes setting "$@"); }  # STYLE KEY DEFAULT

for style in "$@"; do
  state=$checkpoints/$style.pt
  start=$(python -c 'import sys, torch; print(torch.load(sys.argv[1], weights_only=True)["step"])' "$state")
  soup_weight=$(setting "$style" soup_temporal_weight "")
  for variant in temporal plain ${soup_weight:+temporal_soup}; do
    if [[ ! -f $run/$variant/$style/last.pt ]]; then
      mkdir -p "$run/$variant/$style"
      cp "$state" "$run/$variant/$style/last.pt"
    fi
  done
  # the style's own temporal weight and fine-tune steps (styles.json "train"), else 600 and 400
  temporal_weight=${TEMPORAL_WEIGHT:-$(setting "$style" temporal_weight 600)}
  steps=${FINETUNE_STEPS:-$(setting "$style" finetune_steps 400)}
  export STEPS=$((start + steps)) PARALLEL=1
  TEMPORAL_WEIGHT=$temporal_weight CHANGE_RECIPE=1 "$here/train_style_cpu.sh" "$run/temporal" 600 "$style" &
  temporal=$!
  TEMPORAL_WEIGHT=0 "$here/train_style_cpu.sh" "$run/plain" 600 "$style"
  wait "$temporal"
  if [[ -n $soup_weight ]]; then
    share=$(setting "$style" soup_share "")
    TEMPORAL_WEIGHT=$soup_weight CHANGE_RECIPE=1 THREADS=2 \
      "$here/train_style_cpu.sh" "$run/temporal_soup" 600 "$style"
    (cd "$here/../.." && python -m training soup --start "$state" -o "$run/soup/$style/last.pt" \
       "$run/temporal/$style/last.pt:$(python -c "print(1 - $share)")" "$run/temporal_soup/$style/last.pt:$share")
  fi
done
