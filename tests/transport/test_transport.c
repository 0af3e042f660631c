/* test_transport.c - UcxRpcAdapterEngine end to end over loopback, in one process: the case
 * table and main() of test_transport.
 *
 * Two apps A and B (transport_harness.h); the test plays the runtime (turning both chains by
 * hand) except where real runtime threads drive them and sleep on the UCX workers' event fds.
 * raw_peer.c plays a hostile or dying remote service. The cases live one concept per file
 * (transport_cases.h): making and refusing connections (transport_wiring.c), messages flowing
 * (transport_traffic.c), mid-size messages eager over TCP (transport_eager.c), peers that die or
 * misbehave (transport_peers.c), the receiver's limits (transport_limits.c), real runtime threads
 * (transport_threads.c), live upgrades of the ucx plugin (transport_upgrade.c) and the settings
 * the plugin checks itself (transport_settings.c). The wire-up under attack and its MUNGE
 * authentication have programs of their own (test_transport_hostile.c,
 * test_transport_munge.c).
 *
 * The table's order is the order the cases run in; ctest's runs pick cases by name (a case
 * whose name says "two runtime threads" runs in the TSan job too). UCX_TLS=tcp unless the
 * environment says otherwise (ctest runs it again with shared memory). With PHX_TEST_EXPECT_SHM
 * set, the exchange must have used a shared-memory transport. */
#include "transport_cases.h"

static const phx_test_case_t cases[] = {
    {"bind, connect and refused requests", test_bind_connect_refusals},
    {"names, the wildcard address, IPv6", test_addresses},
    {"10,000 messages each way, 0 B to 8 MiB", test_each_way},
    {"10,000 each way between apps of two runtime threads", test_xthread_each_way},
    {"two runtime threads: both ways at once, then the receiver goes", test_xthread_threads},
    {"10,000 sends on one connection under back-pressure", test_backpressure},
    {"a slow peer holds up only its own connection", test_slow_peer_alone},
    {"messages of up to 100,000 pieces", test_many_pieces},
    {"4-20 KiB messages travel in batches, larger ones alone", test_mid_size_batches},
    {"32 KiB and 256 KiB messages go eager on a TCP connection", test_eager_mid_size},
    {"eager_max_kb = 0 forces nothing eager", test_eager_off},
    {"a full heap holds eager frames and then delivers them all", test_eager_full_heap_holds},
    {"a full heap holds 32 KiB eager frames too", test_eager_full_heap_holds_32k},
    {"connect to nobody fails within 2 s", test_connect_nobody},
    {"peer destroyed mid-stream, then restarted on its port", test_peer_destroyed},
    {"peer process killed mid-stream", test_peer_killed},
    {"malformed frames from a raw UCX peer", test_malformed},
    {"a raw UCX peer naming 0xff*64 as its worker in AUTH", test_bad_address_claim},
    {"in-flight receive budget", test_inflight_budget},
    {"in-flight budget: a large message waits for room", test_inflight_budget_waits},
    {"malformed frames give their credits back", test_malformed_frames_return_credits},
    {"runtime sleeps on the worker fd and wakes on traffic", test_wakeup},
    {"crossed connects: two services call each other at once", test_crossed_connects},
    {"crossed connects between two runtime threads", test_crossed_threads},
    {"two runtime threads: an app moved to the other before it connects", test_xthread_moved},
    {"a full heap refuses a parked frame once nothing is freed", test_full_heap_refuses_parked},
    {"live upgrade of the ucx plugin mid-stream", test_live_upgrade},
    {"live upgrade mid-stream between apps of two runtime threads", test_xthread_live_upgrade},
    {"connects in flight across a live upgrade all succeed", test_upgrade_mid_connects},
    {"connection set-up latency (figures)", test_setup_latency},
    {"InfiniBand service level settings are checked", test_ib_service_level_settings},
    {"a TCP segment below 64 KiB is refused", test_small_tcp_segment},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return transport_main("transport", cases, argc, argv);
}
