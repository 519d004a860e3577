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
#   HPO_REQUEST     the CreateSolution request JSON, where the head node can read it               (required)
#   HPO_DATA        the Interactions CSV/Parquet, where the head node can read it                  (required)
#   HRNN            the hrnn executable on the head node (default: hrnn)
#   NO_WAIT=1       return right after submitting (then `ray job logs --follow <id>`)
#   RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH for clusters with token auth.
# Extra arguments go to `hrnn run`, e.g. --gpus-per-trial 0.5 --max-epochs 3 --quiet.
#
# The job runs on the head node, which reads the files named here itself: HRNN_WORKSPACE, HPO_REQUEST and
# HPO_DATA must be absolute paths (or file:// URIs) on a filesystem the head node mounts, and HPO_STORAGE an
# absolute path or a URI. The script refuses to submit otherwise, and refuses paths inside this checkout (a
# remote head node has none) unless the job server is on this machine (RAY_ADDRESS at localhost/127.0.0.1).
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
: "${HPO_REQUEST:?set HPO_REQUEST to the request JSON on storage the head node reads (an absolute path or file:// URI)}"
: "${HPO_DATA:?set HPO_DATA to the interactions file on storage the head node reads (an absolute path or file:// URI)}"
HRNN="${HRNN:-hrnn}"
RAY="${RAY:-ray}"
export RAY_USAGE_STATS_ENABLED="${RAY_USAGE_STATS_ENABLED:-0}"

refuse() { echo "submit_ray_job.sh: $*; nothing was submitted." >&2; exit 2; }

# The job server's host: a head node on this machine reads this machine's files.
server_host="${RAY_ADDRESS#*://}"; server_host="${server_host%%/*}"; server_host="${server_host%:*}"
case "$server_host" in localhost|127.*|"[::1]"|::1) head_is_here=1 ;; *) head_is_here= ;; esac

# NAME VALUE URIS: VALUE must be an absolute path, a file:// URI, or (URIS=any) any URI.
check_location() {
  local name="$1" value="$2" uris="$3" path
  case "$value" in
    file://*) path="${value#file://}" ;;
    *://*)
      [[ "$uris" == any ]] || refuse "$name=$value: hrnn reads this from a file; give an absolute path (or file:// URI) on storage the head node mounts (copy the object there first)"
      return 0 ;;
    *) path="$value" ;;
  esac
  [[ "$path" == /* ]] || refuse "$name=$value is a relative path, which the head node would resolve in its own directory; give an absolute path on storage the head node mounts"
  if [[ -z "$head_is_here" && ( "$path" == "$ROOT" || "$path" == "$ROOT"/* ) ]]; then
    refuse "$name=$value lies in this checkout, which the head node at $server_host does not have; put it on shared storage"
  fi
}

check_location HRNN_WORKSPACE "$HRNN_WORKSPACE" none
check_location HPO_STORAGE "$HPO_STORAGE" any
check_location HPO_REQUEST "$HPO_REQUEST" none
check_location HPO_DATA "$HPO_DATA" none

submit=("$RAY" job submit --address "$RAY_ADDRESS")
if [[ -n "${NO_WAIT:-}" ]]; then submit+=(--no-wait); fi

exec "${submit[@]}" -- "$HRNN" run --workspace "$HRNN_WORKSPACE" --storage "$HPO_STORAGE" \
  --request "$HPO_REQUEST" --interactions "$HPO_DATA" "$@"
