#!/bin/sh
# check_exports.sh PLUGIN.so...: fails unless every plugin exports its descriptor and nothing else.
#
# Plugins are built with hidden visibility (phx_add_plugin); PHX_PLUGIN marks the descriptor
# default-visible. Besides it, `nm -D --defined-only` may list only what the linker itself
# defines in every shared object (_init, _fini, _edata, _end, __bss_start) and, under ASan, the
# descriptor's own one-definition-rule indicator (__odr_asan.phx_plugin_descriptor).
allowed='^(phx_plugin_descriptor|__odr_asan\.phx_plugin_descriptor|_init|_fini|_edata|_end|__bss_start)$'
status=0
[ $# -gt 0 ] || { echo "check_exports.sh: no plugin given" >&2; exit 2; }
for so in "$@"; do
    syms=$(nm -D --defined-only "$so" | awk '{ print $NF }') || { status=1; continue; }
    if ! printf '%s\n' "$syms" | grep -qx phx_plugin_descriptor; then
        echo "$so: does not export phx_plugin_descriptor" >&2
        status=1
    fi
    extra=$(printf '%s\n' "$syms" | grep -Ev "$allowed" | tr '\n' ' ')
    if [ -n "$extra" ]; then
        echo "$so: exports more than its descriptor: $extra" >&2
        status=1
    else
        echo "$so: only phx_plugin_descriptor"
    fi
done
exit $status
