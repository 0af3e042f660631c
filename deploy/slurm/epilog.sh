#!/usr/bin/env bash
# epilog.sh - Slurm Epilog (slurm.conf: Epilog=/usr/lib/phoenix/slurm/epilog.sh), run as root on
# every node of a job after it ended, however it ended:
#   1. the job's standing policy rules on the system service go (policyctl detach --job J);
#   2. a per-job service that outlived the job (a keeper or phoenixd whose pid files name them)
#      is stopped, and the job's directory MRPC_RUN_DIR/mrpc-run-UID/jobJ-NODE removed.
# Always exits 0 (a failing epilog drains the node; what could not be done is logged instead).
# Nothing outside that directory is touched: a symbolic link in its place is left alone.
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

phx_job_ok || { phx_log "no valid SLURM_JOB_ID: nothing to clean"; exit 0; }
job=$SLURM_JOB_ID node=${SLURMD_NODENAME:-$(hostname -s)}

if phx_service_healthy; then
  if out=$(policyctl detach --job "$job" --prefix "$PHOENIX_PREFIX" --timeout 5 2>&1); then
    phx_log "removed the job's standing rules: $out"
  else
    phx_log "policyctl detach --job $job: $out"
  fi
fi

# Stops PID if it still runs the program NAME (pid files outlive their processes).
stop_if() {   # PIDFILE NAME
  local pid
  pid=$(head -c 16 "$1" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  phx_log "killed $2 (pid $pid) after 5 s"
}

for d in "$MRPC_RUN_DIR"/mrpc-run-*/"job$job-$node"; do
  [ -d "$d" ] && [ ! -L "$d" ] && [ ! -L "$(dirname "$d")" ] || continue
  stop_if "$d/keeper.pid" mrpc-run
  stop_if "$d/p/phoenixd.pid" phoenixd
  rm -rf --one-file-system -- "$d"
  phx_log "removed the job's service directory $d"
done
exit 0
