#!/usr/bin/env bash
# A bundled style as it ships: two fast_up8 nets trained side by side from the same start
# on the same crops, one thread each (both cores of a 2-core CPU), one style after the other:
#
#   training/recipes/train_pair_cpu.sh RUN_DIR MINUTES STYLE [STYLE ...]
#
#   RUN_DIR/temporal/STYLE  with the temporal loss from the first step: the net that ships
#   RUN_DIR/plain/STYLE     without it: its plain twin, which
#                           `python -m benchmarks.temporal --styles` measures it against
#
# Each run is train_style_cpu.sh (the style's settings from styles.json, "init" the bundled
# style it starts from), resumable from its run folder or from the committed states
# training/checkpoints/STYLE.pt and STYLE.plain.pt:
#   cp RUN_DIR/temporal/STYLE/last.pt training/checkpoints/STYLE.pt
#   cp RUN_DIR/plain/STYLE/last.pt training/checkpoints/STYLE.plain.pt
# Then:
#   python training/recipes/export_styles.py RUN_DIR/temporal/STYLE/last.pt STYLE --variant fast
#   python training/recipes/export_styles.py RUN_DIR/plain/STYLE/last.pt STYLE --plain-twin
set -euo pipefail
run=$1; minutes=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
setting() { (cd "$here/../.." && python -m training.recipes setting "$@"); }  # STYLE KEY DEFAULT

for style in "$@"; do
  # the style's own temporal weight and steps (styles.json "train"), else 100 and 1,500
  weight=${TEMPORAL_WEIGHT:-$(setting "$style" temporal_weight 100)}
  export STEPS=${STEPS:-$(setting "$style" steps 1500)}
  PARALLEL=1 TEMPORAL_WEIGHT=$weight "$here/train_style_cpu.sh" "$run/temporal" "$minutes" "$style" &
  temporal=$!
  PARALLEL=1 TEMPORAL_WEIGHT=0 SUFFIX=.plain "$here/train_style_cpu.sh" "$run/plain" "$minutes" "$style"
  wait "$temporal"
done
