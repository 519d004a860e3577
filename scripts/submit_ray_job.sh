#!/usr/bin/env bash
# Submit a solution version (HPO or a single model) to an existing Ray cluster with `ray job submit`.
#
# The job's driver is the ordinary `hrnn run` command, unchanged: on the head node it joins the cluster
# through the RAY_ADDRESS the job server gives it, and Ray Tune spreads the trials over the nodes. Every
# node needs this project and its dependencies installed (the same Python environment).
#
# Environment:
#   RAY_ADDRESS     the cluster's job server (dashboard), e.g. http://head-node:8265               (required)
#   HRNN_WORKSPACE  the workspace (solutions, versions, models) on storage the head node can write and
#                   you can read, e.g. an NFS path                                                    (required)
#   HPO_STORAGE     Ray Tune experiment storage that EVERY node can reach: a shared (NFS) absolute path or
#                   a URI such as s3://bucket/prefix. A path local to the head node fails on multi-node
#                   clusters ("Unable to set up cluster storage").                                    (required)
#   HPO_REQUEST     CreateSolution request JSON on the head node (default: data/requests/hpo_request.json)
#   HPO_DATA        Interactions CSV/Parquet on the head node (default: data/sample_interactions.csv)
#   HRNN            the hrnn executable on the head node (default: hrnn)
#   NO_WAIT=1       return right after submitting (then `ray job logs --follow <id>`)
#   RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH for clusters with token auth.
# Extra arguments go to `hrnn run`, e.g. --gpus-per-trial 0.5 --max-epochs 3 --quiet.
#
# Example:
#   RAY_ADDRESS=http://10.0.0.5:8265 HRNN_WORKSPACE=/shared/hrnn-ws HPO_STORAGE=s3://my-bucket/hpo \
#     HPO_DATA=/shared/interactions.parquet HPO_REQUEST=/shared/request.json scripts/submit_ray_job.sh
# Submitting the same command again after an interruption resumes the solution version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${RAY_ADDRESS:?set RAY_ADDRESS to the cluster job server, e.g. http://head-node:8265}"
: "${HRNN_WORKSPACE:?set HRNN_WORKSPACE to the shared workspace directory}"
: "${HPO_STORAGE:?set HPO_STORAGE to a path or URI that every node can reach}"
HRNN="${HRNN:-hrnn}"
RAY="${RAY:-ray}"
export RAY_USAGE_STATS_ENABLED="${RAY_USAGE_STATS_ENABLED:-0}"

submit=("$RAY" job submit --address "$RAY_ADDRESS")
if [[ -n "${NO_WAIT:-}" ]]; then submit+=(--no-wait); fi

exec "${submit[@]}" -- "$HRNN" run --workspace "$HRNN_WORKSPACE" --storage "$HPO_STORAGE" \
  --request "${HPO_REQUEST:-$ROOT/data/requests/hpo_request.json}" \
  --interactions "${HPO_DATA:-$ROOT/data/sample_interactions.csv}" "$@"
