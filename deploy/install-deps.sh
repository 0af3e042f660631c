#!/usr/bin/env bash
# install-deps.sh - install every Debian 12 package that building, testing and benchmarking
# Phoenix-C needs. Idempotent: when everything is present it only checks (dpkg-query, no network)
# and returns in well under a second. Must run as root (apt-get); says so plainly otherwise.
#
#   deploy/install-deps.sh           install what is missing
#   deploy/install-deps.sh --check   list what is missing, install nothing (exit 1 if any)
set -euo pipefail

PACKAGES=(
  # toolchain and build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # transport: UCX and rdma-core (verbs are used where an HCA exists)
  libucx-dev ucx-utils rdma-core ibverbs-utils libibverbs-dev librdmacm-dev
  # topology
  hwloc libhwloc-dev
  # marshalling and code generation (plugin.proto ships with libprotoc-dev)
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotoc-dev
  # configuration, JSON output, unit tests
  libconfig-dev libjson-c-dev libcunit1-dev
  # comparison baselines and cluster integration
  openmpi-bin libopenmpi-dev mpich libmpich-dev slurm-wlm munge
  # peer authentication in the wire-up (libmunge), PMI for mrpc-run under Slurm
  libmunge-dev libpmix-dev libpmi2-0-dev
  # the metrics endpoint (libmicrohttpd) and the real Prometheus that scrapes it in a test
  libmicrohttpd-dev prometheus
  # readiness notification of the systemd unit (sd_notify), systemd-analyze verify in a test
  libsystemd-dev systemd
  # test networking, benchmarks' plots, process inspection
  iproute2 gnuplot-nox procps psmisc python3
  # nft loads deploy/firewall/phoenix-ucx.nft in tests/twonode/test_firewall.sh
  nftables
  # groff renders the manual pages (docs/man) in tests/man/test_man.sh
  groff-base
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo $0) to install them with apt-get" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
