# common.sh - what Phoenix's Slurm prolog and epilog share: their settings (/etc/default/phoenix,
# or the file PHOENIX_SLURM_DEFAULTS names), logging, and the health check of the system service.
# Sourced, not run.

defaults=${PHOENIX_SLURM_DEFAULTS:-/etc/default/phoenix}
# shellcheck disable=SC1090
[ -r "$defaults" ] && . "$defaults"
PHOENIX_PREFIX=${PHOENIX_PREFIX:-/run/phoenix}
PHOENIX_SERVICE_REQUIRED=${PHOENIX_SERVICE_REQUIRED:-no}
MRPC_RUN_DIR=${MRPC_RUN_DIR:-/tmp}
[ -n "${PHOENIX_BINDIR:-}" ] && PATH=$PHOENIX_BINDIR:$PATH
export PATH

phx_log() {
  local line="$(basename "$0") job ${SLURM_JOB_ID:-?} on ${SLURMD_NODENAME:-$(hostname)}: $*"
  if [ -n "${PHOENIX_SLURM_LOG:-}" ]; then echo "$(date -u +%FT%T.%3N) $line" >> "$PHOENIX_SLURM_LOG"
  else logger -t phoenix-slurm -- "$line" 2>/dev/null || echo "$line" >&2; fi
}

# True when the system service answers an admin request within 5 s.
phx_service_healthy() {
  [ -S "$PHOENIX_PREFIX/control.sock" ] &&
    phoenixctl list --prefix "$PHOENIX_PREFIX" --timeout 5 >/dev/null 2>&1
}

# A job id must be all digits before it goes into a path or a command line.
phx_job_ok() { [[ "${SLURM_JOB_ID:-}" =~ ^[0-9]+$ ]]; }
