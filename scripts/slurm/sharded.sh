#!/bin/bash
# Submit one evaluation sharded over N Slurm array tasks, and its merge, which runs once every
# task has succeeded (afterok); prints the two job ids. Hydra overrides follow N:
#   scripts/slurm/sharded.sh 8 dataset=ijbc dataset.root=/data/ijb hardware=cuda
# sbatch's own variables choose where they run, e.g. SBATCH_PARTITION=gpu SBATCH_GRES=gpu:1 for
# the shards; MERGE_SBATCH_ARGS (e.g. "--partition=cpu --mem=16G") for the merge, which only
# reads the shards' stores and evaluates. WAIT=1 waits for the merge and exits with its status.
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 2 ]; then
  echo "usage: $0 NUM_SHARDS (>= 2) [hydra overrides...]" >&2
  exit 2
fi
shards=$1
shift
script="$(cd "$(dirname "$0")" && pwd)/shard.sbatch"
array=$(sbatch --parsable --array="0-$((shards - 1))" --export="ALL,NUM_SHARDS=$shards" "$script" "$@")
array=${array%%;*}
wait_flag=()
if [ "${WAIT:-0}" = 1 ]; then
  wait_flag=(--wait)
fi
# shellcheck disable=SC2086  # MERGE_SBATCH_ARGS is a list of sbatch options
merge=$(env -u SBATCH_GRES sbatch --parsable "${wait_flag[@]}" --dependency="afterok:$array" \
  --job-name=bench-merge --output=bench-merge-%j.out --export="ALL,NUM_SHARDS=$shards" \
  ${MERGE_SBATCH_ARGS:-} "$script" "$@")
echo "shards: job $array (array 0-$((shards - 1))); merge: job ${merge%%;*}"
