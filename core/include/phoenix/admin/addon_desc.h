/* addon_desc.h - the policy descriptor an admin sends to attach or detach an engine.
 *
 * The seed's semantics in libconfig syntax:
 *
 *     addon_engine = "NullEngine";
 *     tx_channels_replacements = ( ("MrpcEngine", "NullEngine", 0, 0),
 *                                  ("NullEngine", "UcxRpcAdapterEngine", 0, 0) );
 *     rx_channels_replacements = ( ("UcxRpcAdapterEngine", "NullEngine", 0, 0),
 *                                  ("NullEngine", "MrpcEngine", 0, 0) );
 *     group = [ "MrpcEngine", "UcxRpcAdapterEngine" ];
 *     op = "attach";                       # or "detach"
 *     config_string = "requests_per_sec = 1000; bucket_size = 1000;";
 *
 * A replacement ("A", "B", p, q) is the channel from A's out port p to B's in port q as it is to
 * be after the operation. Lists ( ) and arrays [ ] are both accepted wherever a sequence is
 * expected, but libconfig arrays hold scalars of one type only: a tuple is always a list, and so
 * is a non-empty list of tuples (`[]` is fine for none). `group` lists every engine of the
 * subscription other than the addon; it is required for attach and optional for detach. Instead of config_string, a descriptor FILE may say config_path = "file" (relative
 * to the descriptor's directory): the admin's client reads that file, never the service, so the
 * text the service parses must not contain config_path or @include. */
#ifndef PHX_ADDON_DESC_H
#define PHX_ADDON_DESC_H

#include <stddef.h>

#include "phoenix/engine.h"

#define PHX_ADDON_MAX_EDGES 32      /* replacements per direction */
#define PHX_ADDON_MAX_GROUP 16      /* = PHX_SUB_MAX_ENGINES */

typedef enum phx_addon_op { PHX_ADDON_ATTACH = 0, PHX_ADDON_DETACH = 1 } phx_addon_op_t;

/* One replacement: FROM's out port FROM_PORT feeds TO's in port TO_PORT. */
struct phx_addon_edge {
    char     from[PHX_NAME_MAX];
    char     to[PHX_NAME_MAX];
    unsigned from_port;
    unsigned to_port;
};

struct phx_addon_desc {
    phx_addon_op_t        op;
    char                  engine[PHX_NAME_MAX];             /* addon_engine */
    struct phx_addon_edge edges[2][PHX_ADDON_MAX_EDGES];   /* [PHX_TX|PHX_RX] */
    unsigned              n_edges[2];
    char                  group[PHX_ADDON_MAX_GROUP][PHX_NAME_MAX];
    unsigned              n_group;
    bool                  has_group;
    char                 *config;                          /* config_string (malloc'd) or NULL */
};

/* Parses descriptor TEXT into D. ORIGIN names the text in messages (a file name, "policyctl").
 * Returns 0, or -EINVAL with one line in ERR naming origin, line and key, e.g.
 * "attach.conf:3: tx_channels_replacements[1]: port -1 out of range 0..3". Release D with
 * phx_addon_desc_fini() after success (failure leaves nothing to release). */
int  phx_addon_desc_parse(const char *text, const char *origin, struct phx_addon_desc *d,
                          char *err, size_t errlen);
void phx_addon_desc_fini(struct phx_addon_desc *d);

/* For the admin's client: reads the descriptor file PATH, checks it, and returns the text to send
 * to the service (malloc'd): the same descriptor with config_path replaced by a config_string
 * holding that file's contents. NULL with errno and the reason in ERR. */
char *phx_addon_desc_load_file(const char *path, char *err, size_t errlen);

#endif /* PHX_ADDON_DESC_H */
