"""build.py - where the runner finds what it runs: the programs and plugins of a CMake build.

Paths are relative to the build directory (--build, default <source>/build). A system whose
files are missing is skipped, and the runner says which files were missing.
"""

import os

FILES = {
    "ucx_pingpong": "benchmarks/ucx_pingpong",
    "mpi_pingpong_openmpi": "benchmarks/mpi_pingpong_openmpi",
    "mpi_pingpong_mpich": "benchmarks/mpi_pingpong_mpich",
    "rpc_bench": "benchmarks/rpc_bench/rpc_bench",
    "phoenixd": "core/phoenixd/phoenixd",
    "phoenixctl": "tools/phoenixctl/phoenixctl",
    "plugin_mrpc": "mrpc/engine/libphoenix_mrpc.so",
    "plugin_ucx": "transports/ucx/libphoenix_ucx.so",
    "plugin_null": "policies/null/libphoenix_null.so",
    "plugin_ratelimit": "policies/ratelimit/libphoenix_ratelimit.so",
    "plugin_admission": "policies/admission/libphoenix_admission.so",
    "plugin_qos": "policies/qos/libphoenix_qos.so",
    "policyctl": "tools/policyctl/policyctl",
    # mpi-compat beside the MPIs (mpicompat.py): the same benchmarks, built against libmrpc_mpi
    "mpi_pingpong_mpicompat": "benchmarks/mpi_pingpong_mpicompat",
    "mpib_coll_mpicompat": "mpi-compat/bench/mpib_coll",
    "mpib_coll_openmpi": "mpi-compat/bench/mpib_coll_openmpi",
    "mpib_coll_mpich": "mpi-compat/bench/mpib_coll_mpich",
    "mrpc_run": "tools/mrpc-run/mrpc-run",
    # second builds for the stall benchmark (stall): live upgrades to them
    "plugin_mrpc_next": "mrpc/engine/libphoenix_mrpc_next.so",
    "plugin_ucx_next": "transports/ucx/libphoenix_ucx_next.so",
}


class Build:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)

    def path(self, key):
        return os.path.join(self.dir, FILES[key])

    def exists(self, key):
        return os.path.exists(self.path(key))

    def missing(self, keys):
        """The files of KEYS that do not exist, as paths relative to the build directory."""
        return [FILES[k] for k in keys if not os.path.exists(self.path(k))]
