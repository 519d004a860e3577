#!/usr/bin/env bash
# Submit an HPO (performHPO: true) to an existing Ray cluster with `ray job submit`.
#
# The job's driver runs scripts/ray_job_example.py on the head node; it joins the cluster through the
# RAY_ADDRESS the job server gives it, and Tune spreads the trials over the nodes. Every node needs this
# project and its dependencies installed (same Python environment), or pass WORKING_DIR (below).
#
# Environment:
#   RAY_ADDRESS    the cluster's job server (dashboard), e.g. http://head-node:8265        (required)
#   HPO_STORAGE    experiment storage that EVERY node can reach: a shared (NFS) absolute path or a URI
#                  such as s3://bucket/prefix or gs://bucket/prefix. A path local to the head node fails
#                  ("Unable to set up cluster storage") on multi-node clusters.                  (required)
#   HPO_NAME       experiment name; submitting again with the same name resumes an interrupted run
#                  (default: hrnn-hpo)
#   HPO_REQUEST    CreateSolution request JSON, path on the head node (default: data/requests/hpo_request.json)
#   HPO_DATA       Interactions CSV/Parquet, path on the head node (default: data/sample_interactions.csv)
#   PYTHON         the python on the head node that has this project installed (default: python)
#   WORKING_DIR    optional: ship this directory with --working-dir (paths then relative to it). On a
#                  single host running several Ray nodes, --working-dir can break the first submission of
#                  a new package (shared runtime_resources dir), so it is off by default.
#   SUBMISSION_ID  optional job id; NO_WAIT=1 returns right after submitting (follow with
#                  `ray job logs --follow <id>` / `ray job status <id>`).
#   RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH with RAY_AUTH_MODE=token for clusters with token auth.
# Extra arguments go to ray_job_example.py, e.g. --set epochs=5 --max-epochs 3 --gpus-per-trial 0.5 --min-nodes 2.
#
# Example:
#   RAY_ADDRESS=http://10.0.0.5:8265 HPO_STORAGE=s3://my-bucket/hpo HPO_NAME=hrnn-2024-06 \
#     scripts/submit_ray_job.sh --set epochs=10 --min-nodes 2
# The job writes <HPO_STORAGE>/<HPO_NAME>/ (Tune experiment: trials, checkpoints, best_checkpoint for local
# storage) and <HPO_STORAGE>/<HPO_NAME>.summary.json (trials, objective, node ids, tunedHPOParams).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${RAY_ADDRESS:?set RAY_ADDRESS to the cluster job server, e.g. http://head-node:8265}"
: "${HPO_STORAGE:?set HPO_STORAGE to a path or URI that every node can reach}"
HPO_NAME="${HPO_NAME:-hrnn-hpo}"
PYTHON="${PYTHON:-python}"
RAY="${RAY:-ray}"
export RAY_USAGE_STATS_ENABLED="${RAY_USAGE_STATS_ENABLED:-0}"

submit=("$RAY" job submit --address "$RAY_ADDRESS")
if [[ -n "${SUBMISSION_ID:-}" ]]; then submit+=(--submission-id "$SUBMISSION_ID"); fi
if [[ -n "${NO_WAIT:-}" ]]; then submit+=(--no-wait); fi

if [[ -n "${WORKING_DIR:-}" ]]; then
  submit+=(--working-dir "$WORKING_DIR")
  entry="scripts/ray_job_example.py"
  request="${HPO_REQUEST:-data/requests/hpo_request.json}"
  data="${HPO_DATA:-data/sample_interactions.csv}"
else
  entry="$ROOT/scripts/ray_job_example.py"     # absolute: the same checkout path on the head node
  request="${HPO_REQUEST:-$ROOT/data/requests/hpo_request.json}"
  data="${HPO_DATA:-$ROOT/data/sample_interactions.csv}"
fi

exec "${submit[@]}" -- "$PYTHON" "$entry" --storage "$HPO_STORAGE" --name "$HPO_NAME" \
  --request "$request" --data "$data" "$@"
