#!/usr/bin/env bash
# prolog.sh - Slurm Prolog (slurm.conf: Prolog=/usr/lib/phoenix/slurm/prolog.sh), run as root on
# every node of a job before its first step: the node's Phoenix service must be up and healthy.
# A system service that answers: exit 0. One that does not: with PHOENIX_SERVICE_REQUIRED=yes
# exit 1, so that Slurm drains the node instead of starting the job there; otherwise exit 0 and
# note that the job's mrpc-run will start a per-job service. Settings: /etc/default/phoenix
# (deploy/slurm/defaults). Bounded: the health check waits at most 5 s.
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

phx_job_ok || { phx_log "no valid SLURM_JOB_ID: nothing to check"; exit 0; }
if phx_service_healthy; then
  phx_log "system service at $PHOENIX_PREFIX is healthy"
  exit 0
fi
if [ "$PHOENIX_SERVICE_REQUIRED" = yes ]; then
  phx_log "system service at $PHOENIX_PREFIX does not answer: refusing the job here"
  echo "phoenix prolog: the Phoenix service at $PHOENIX_PREFIX does not answer on this node" >&2
  exit 1
fi
phx_log "no system service at $PHOENIX_PREFIX: mrpc-run will start one for the job"
exit 0
