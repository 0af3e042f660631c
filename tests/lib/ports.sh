# ports.sh - sourced by the shell tests that need a fixed TCP port (a server given ADDR:PORT).
#
#   free_tcp_port    prints a port that no socket of this network namespace uses now
#
# The port comes from below the kernel's ephemeral range (ip_local_port_range): every connect()
# and every bind to port 0 of the tests running beside this one takes its port from that range,
# so a port picked inside it (as "20000 + $$" once did) can be taken by a stranger's connection
# between the pick and the bind. Below it only other fixed-port tests compete, and ss says
# whether one of them holds the port. Bounded: 200 draws, then it fails.
free_tcp_port() {
  local low high p
  read -r low high < /proc/sys/net/ipv4/ip_local_port_range || return 1
  local base=10000
  [ "$low" -gt $((base + 1000)) ] || base=1024
  for _ in $(seq 200); do
    p=$((base + (RANDOM * 32768 + RANDOM) % (low - base)))
    [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  echo "free_tcp_port: no free port below $low after 200 draws" >&2
  return 1
}
