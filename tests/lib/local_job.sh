# local_job.sh - sourced (not run) by the tests that run jobs under mrpc-run outside Slurm
# (tests/mrpc-run/test_local.sh, mpi-compat/tests/run_mpi.sh): the set-up they share, in one place.
#
#   . "$(dirname "$0")/.../tests/lib/local_job.sh"
#   local_job_start NAME PHOENIXD MRPC_PLUGIN UCX_PLUGIN [LOG_LEVEL]
#
# makes a private directory /tmp/phx-NAME.XXXXXX (in $dir), starts a munged of the test's own
# there (tests/lib/munged.sh), writes the per-job service's configuration ($dir/phoenix.conf: the
# two plugins, UCX over TCP on loopback, authenticated by that munged as installed; log level
# LOG_LEVEL, default "warn") and exports what mrpc-run reads: TMPDIR=$dir (the per-job services'
# directories go there), MRPC_RUN_PHOENIXD, MRPC_RUN_SERVICE_CONF, UCX_TLS=tcp, UCX_NET_DEVICES=lo
# and a PHOENIX_PREFIX where no system service answers. On exit (a trap) every process whose
# command line names $dir and every pid in the array local_job_pids is killed (SIGKILL, by pid),
# munged is stopped and $dir removed. fail MESSAGE prints "FAILED: MESSAGE" and the end of every
# service log of the test, and exits 1.

local_job_pids=()

local_job_cleanup() {
  local p
  for p in "${local_job_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(pgrep -f "$dir/" || true); do kill -KILL "$p" 2>/dev/null || true; done
  "$local_job_munged" stop "$dir/munge" || true
  rm -rf "$dir"
}

fail() {
  echo "FAILED: $*"
  find "$dir" -name phoenixd.log -exec tail -5 {} + 2>/dev/null || true
  exit 1
}

local_job_start() {
  local name=$1 phoenixd=$2 mrpc_so=$3 ucx_so=$4 level=${5:-warn} socket
  local_job_munged=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/munged.sh
  dir=$(mktemp -d "/tmp/phx-$name.XXXXXX")
  chmod 0755 "$dir"     # munged wants every directory above its socket searchable
  trap local_job_cleanup EXIT
  export TMPDIR=$dir MRPC_RUN_PHOENIXD=$phoenixd MRPC_RUN_SERVICE_CONF=$dir/phoenix.conf
  export UCX_TLS=tcp UCX_NET_DEVICES=lo PHOENIX_PREFIX=$dir/no-system-service
  socket=$("$local_job_munged" start "$dir/munge") || fail "no munged for the test"
  cat > "$dir/phoenix.conf" <<CONF
log = { level = "$level"; };
settings = { ucx = { tls = "tcp"; net_devices = "lo"; munge_socket = "$socket"; }; };
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF
}
