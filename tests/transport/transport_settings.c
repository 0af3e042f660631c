/* transport_settings.c - test_transport's checks of settings that UCX would not check here:
 * settings.ucx.ib_sl / ib_traffic_class (valid ones create engines, bad ones are refused with the
 * key's name and range) and a UCX_TCP_RX_SEG_SIZE below 64 KiB. */
#include "transport_cases.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* settings.ucx.ib_sl / ib_traffic_class (docs/policies.md, "qos"): UCX itself checks them only
 * when a worker opens an InfiniBand interface, which this machine has none of, so the plugin
 * checks them in every engine's create(); valid ones create engines (over TCP they do nothing). */
void test_ib_service_level_settings(void)
{
    static const char *const bad[] = {"ib_sl = \"16\";", "ib_sl = \"zz\";",
                                      "ib_traffic_class = \"256\";", "ib_sl = \"-1\";"};

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct phx_app_port_params p = {.field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH, .depth = 64};
        phx_app_port_t *port = phx_app_port_create(&p, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(port);
        ucx_settings(bad[i]);
        struct phx_subscription *sub = phx_subscription_create_on(&reg, "wiretest", getpid(), 90,
                                                                  port, 0, err, sizeof(err));
        CU_ASSERT_PTR_NULL(sub);
        CU_ASSERT(strstr(err, "settings.ucx.ib_") && strstr(err, "from 0 to"));
        if (sub)
            phx_subscription_destroy(sub);
        phx_app_port_destroy(port);
        ucx_settings("ib_sl = \"\"; ib_traffic_class = \"\";");
    }
    ucx_settings("ib_sl = \"3\"; ib_traffic_class = \"106\";");
    pair_up();
    ucx_settings("ib_sl = \"\"; ib_traffic_class = \"\";");
    pair_connect();
    round_trip(5, 36);
    pair_down();
}

/* A TCP segment below 64 KiB (UCX_TCP_RX_SEG_SIZE) is refused when the process's UCX context
 * is made: batches and eager messages would leave in several zero-copy fragments
 * (ucx_context.c). 64k itself, the default, is fine. */
void test_small_tcp_segment(void)
{
    static const char *const bad[] = {"8k", "65535", "16K"};

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct phx_app_port_params p = {.field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH, .depth = 64};
        phx_app_port_t *port = phx_app_port_create(&p, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(port);
        setenv("UCX_TCP_RX_SEG_SIZE", bad[i], 1);
        struct phx_subscription *sub = phx_subscription_create_on(&reg, "wiretest", getpid(), 91,
                                                                  port, 0, err, sizeof(err));
        unsetenv("UCX_TCP_RX_SEG_SIZE");
        CU_ASSERT_PTR_NULL(sub);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "UCX_TCP_RX_SEG_SIZE"));
        if (sub)
            phx_subscription_destroy(sub);
        phx_app_port_destroy(port);
    }
    setenv("UCX_TCP_RX_SEG_SIZE", "64k", 1);
    pair_up();
    unsetenv("UCX_TCP_RX_SEG_SIZE");
    pair_connect();
    round_trip(5, 36);
    pair_down();
}
