/* transport_cases.h - the cases of test_transport, one source file per concept, listed in order
 * by test_transport.c's table (the order they run in, which ctest's runs filter by name). Each
 * file's helpers are its own; what several share is transport_harness.h's. */
#ifndef PHX_TEST_TRANSPORT_CASES_H
#define PHX_TEST_TRANSPORT_CASES_H

#include "transport_harness.h"

/* transport_wiring.c: binding, connecting, refusals, addresses, nobody there, set-up cost */
void test_bind_connect_refusals(void);
void test_addresses(void);
void test_connect_nobody(void);
void test_setup_latency(void);

/* transport_traffic.c: messages flowing on healthy connections */
void test_each_way(void);
void test_xthread_each_way(void);
void test_backpressure(void);
void test_slow_peer_alone(void);
void test_many_pieces(void);
void test_mid_size_batches(void);

/* transport_eager.c: mid-size messages eager over TCP */
void test_eager_mid_size(void);
void test_eager_off(void);
void test_eager_full_heap_holds(void);
void test_eager_full_heap_holds_32k(void);

/* transport_peers.c: peers that die or misbehave */
void test_peer_destroyed(void);
void test_peer_killed(void);
void test_malformed(void);
void test_bad_address_claim(void);

/* transport_limits.c: the receiver's in-flight budget, full heap and message size limit */
void test_inflight_budget(void);
void test_inflight_budget_waits(void);
void test_full_heap_refuses_parked(void);
void test_malformed_frames_return_credits(void);

/* transport_threads.c: real runtime threads */
void test_wakeup(void);
void test_crossed_connects(void);
void test_crossed_threads(void);
void test_xthread_threads(void);
void test_xthread_moved(void);

/* transport_upgrade.c: live upgrades of the ucx plugin */
void test_live_upgrade(void);
void test_xthread_live_upgrade(void);
void test_upgrade_mid_connects(void);

/* transport_settings.c: settings checked by the plugin */
void test_ib_service_level_settings(void);
void test_small_tcp_segment(void);

#endif /* PHX_TEST_TRANSPORT_CASES_H */
