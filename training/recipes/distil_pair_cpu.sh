#!/usr/bin/env bash
# The last step of a bundled style: its trained pair (train_pair_cpu.sh or temporal_cpu.sh)
# distilled into nets of the same architecture that paint clean frame edges with an 8 px
# mirrored border instead of 24 (training/distil.py; about 20 % faster at 640x360), then exported.
# Both nets of the pair in parallel, one thread each (both cores of a 2-core CPU):
#
#   training/recipes/distil_pair_cpu.sh PAIR_RUN_DIR STYLE [STYLE ...]
#
# The teachers are PAIR_RUN_DIR/temporal/STYLE/last.pt (or the soup temporal_cpu.sh made of
# it, PAIR_RUN_DIR/soup/STYLE/last.pt) and PAIR_RUN_DIR/plain/STYLE/last.pt,
# else the committed pair training/checkpoints/STYLE.pt and STYLE.plain.pt (a style without a
# committed plain twin has only its state before the temporal phase there). The students
# go to PAIR_RUN_DIR/distil/{temporal,plain}/STYLE (resumable), then to
# models/STYLE.fast.onnx (with its int8 copy and the blend net) and to the plain twin in
# benchmarks/models (MODELS and TWINS name other folders). STEPS (default 300), BORDER
# (default 8), ARCH (default fast_up8) and IMAGE_SIZE (default 256) change the distillation.
set -euo pipefail
mkdir -p "$1"; run=$(cd "$1" && pwd); shift  # absolute: the steps below run from the repository root
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
shared=${STYLECAM_SHARED:-$root/../shared}
checkpoints=${CHECKPOINTS:-$here/../checkpoints}

teacher() {  # KIND STYLE SUFFIX: the pair run's last state (a temporal soup first), else the committed pair's
  if [[ $1 == temporal && -f $run/soup/$2/last.pt ]]; then echo "$run/soup/$2/last.pt"
  elif [[ -f $run/$1/$2/last.pt ]]; then echo "$run/$1/$2/last.pt"
  elif [[ -f $checkpoints/$2.pt && -f $checkpoints/$2.plain.pt ]]; then echo "$checkpoints/$2$3.pt"
  else echo "no trained $1 net for $2 in $run/$1/$2, and no committed pair in $checkpoints" >&2; exit 2; fi
}

distil_one() {  # KIND STYLE TEACHER; its log goes to the run folder, its last lines to stderr if it fails
  local log=$run/distil/$1/$2.log
  (cd "$root" && python -m training distil "$3" --data "$shared/photos/train" --out "$run/distil/$1/$2" \
     --arch "${ARCH:-fast_up8}" --border "${BORDER:-8}" --steps "${STEPS:-300}" --image-size "${IMAGE_SIZE:-256}" \
     --threads 1 --no-progress) > "$log" 2>&1 || { tail -n 3 "$log" >&2; return 1; }
}

for style in "$@"; do
  temporal=$(teacher temporal "$style" "")
  plain=$(teacher plain "$style" .plain)
  mkdir -p "$run/distil/temporal" "$run/distil/plain"
  distil_one temporal "$style" "$temporal" &
  job=$!
  distil_one plain "$style" "$plain"
  wait "$job"
  (cd "$root" && python training/recipes/export_styles.py "$run/distil/temporal/$style/last.pt" "$style" --variant fast \
     --out "${MODELS:-$root/models}" \
     && python training/recipes/export_styles.py "$run/distil/plain/$style/last.pt" "$style" --plain-twin \
     --twins "${TWINS:-$root/benchmarks/models}")
done
