/* make_seeds.c - writes the binary seed corpora of fuzz/decode, fuzz/layout and fuzz/control.
 *
 *   fuzz_make_seeds decode DIR    one valid native payload per message shape, as
 *                                 DIR/<type>-<n>: one byte (the type's index in harness_types,
 *                                 which fuzz_decode.c reads first) followed by the payload
 *   fuzz_make_seeds layout DIR    the layout blob of each test and shop service, DIR/<service>
 *   fuzz_make_seeds control DIR   one request of each kind, DIR/<kind>-<admin|user>: the
 *                                 envelope byte fuzz_control.c reads first, then the datagram
 *   fuzz_make_seeds handshake DIR one wire-up frame of each type (transports/ucx/ucx_hs_frame.h)
 *                                 and the frames of a whole client and server exchange
 *
 * The corpora in the tree were made with it; run it again after changing the payload format,
 * the layout blob, the control protocol or the test types (docs/hacking.md, "Fuzzing"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.pb-c.h"
#include "kitchen.pb-c.h"
#include "legacy.pb-c.h"
#include "legacy_inventory.mrpc.h"
#include "marshal_harness.h"
#include "marshal_test.pb-c.h"
#include "mrpc_test.mrpc.h"
#include "shop.mrpc.h"
#include "ucx_hs_frame.h"

/* DIR/NAME: FIRST (NULL: nothing) and LEN bytes of DATA. */
static int write_file(const char *dir, const char *name, const uint8_t *first, const void *data,
                      size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && (!first || fwrite(first, 1, 1, f) == 1) && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "%s: cannot write\n", path);
    return ok ? 0 : -1;
}

/* ---- decode --------------------------------------------------------------------------------- */

static int write_payload(struct harness *h, const char *dir, const ProtobufCMessage *msg, int n)
{
    unsigned index = 0;
    while (index < harness_n_types && harness_types[index] != msg->descriptor)
        index++;
    ProtobufCMessage *sent = harness_to_send_heap(h, msg);
    struct mrpc_encoded enc;
    char err[256], name[256];
    if (!sent || mrpc_native_encode(harness_type(h->set, msg->descriptor), (uintptr_t)sent,
                                    &h->send_region, NULL, &enc, err, sizeof(err)) != 0) {
        fprintf(stderr, "encoding %s failed\n", msg->descriptor->name);
        return -1;
    }
    uint8_t *buf = malloc(enc.payload_len);
    int rc = buf ? mrpc_wire_to_buffer(&enc, buf, enc.payload_len) : -1;
    snprintf(name, sizeof(name), "%s-%d", msg->descriptor->short_name, n);
    if (rc == 0)
        rc = write_file(dir, name, &(uint8_t){ (uint8_t)index }, buf, enc.payload_len);
    free(buf);
    mrpc_encoded_free(&enc);
    return rc;
}

static int decode_seeds(const char *dir)
{
    struct harness h;
    if (harness_open(&h, 64u << 20) != 0)
        return -1;
    int rc = 0;

    Kitchen__Sink__V2__Empty empty = KITCHEN__SINK__V2__EMPTY__INIT;
    rc |= write_payload(&h, dir, &empty.base, 1);

    Kitchen__Sink__V2__Order__Line__Note note = KITCHEN__SINK__V2__ORDER__LINE__NOTE__INIT;
    Kitchen__Sink__V2__Order__Line__Note *notes[] = { &note, &note };
    Kitchen__Sink__V2__Order__Line line = KITCHEN__SINK__V2__ORDER__LINE__INIT;
    Kitchen__Sink__V2__Order__Line *lines[] = { &line };
    Kitchen__Sink__V2__Order__StockEntry stock = KITCHEN__SINK__V2__ORDER__STOCK_ENTRY__INIT;
    Kitchen__Sink__V2__Order__StockEntry *stocks[] = { &stock };
    Kitchen__Sink__V2__Order order = KITCHEN__SINK__V2__ORDER__INIT;
    int64_t ids[] = { 1, 2 };
    char *tags[] = { "a", "" };
    ProtobufCBinaryData blobs[] = { { 2, (uint8_t *)"xy" }, { 0, NULL } };
    note.text = "n";
    line.item = "coffee";
    line.n_notes = 2;
    line.notes = notes;
    stock.key = "beans";
    order.n_lines = 1;
    order.lines = lines;
    order.n_ids = 2;
    order.ids = ids;
    order.n_tags = 2;
    order.tags = tags;
    order.n_blobs = 2;
    order.blobs = blobs;
    order.n_stock = 1;
    order.stock = stocks;
    order.payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    order.card = "card";
    rc |= write_payload(&h, dir, &order.base, 1);
    order.payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CASH;
    order.cash = &empty;
    rc |= write_payload(&h, dir, &order.base, 2);

    Kitchen__Sink__V2__Receipt receipt = KITCHEN__SINK__V2__RECEIPT__INIT;
    receipt.n_lines = 1;
    receipt.lines = lines;
    rc |= write_payload(&h, dir, &receipt.base, 1);

    Legacy__Query query = LEGACY__QUERY__INIT;
    int32_t deltas[] = { -1, 7 };
    query.key = "k";
    query.n_deltas = 2;
    query.deltas = deltas;
    rc |= write_payload(&h, dir, &query.base, 1);

    Mtest__Node leaf = MTEST__NODE__INIT, mid = MTEST__NODE__INIT, top = MTEST__NODE__INIT;
    Mtest__Node *kids[] = { &leaf, &leaf };
    leaf.name = "leaf";
    mid.child = &leaf;
    top.name = "top";
    top.child = &mid;
    top.n_kids = 2;
    top.kids = kids;
    rc |= write_payload(&h, dir, &top.base, 1);

    Mtest__Scalars sc = MTEST__SCALARS__INIT;
    int32_t i32[] = { 1, 2, 3 };
    double db[] = { 0.5 };
    sc.has_i64 = 1;
    sc.i64 = -1;
    sc.n_r_i32 = 3;
    sc.r_i32 = i32;
    sc.n_r_db = 1;
    sc.r_db = db;
    rc |= write_payload(&h, dir, &sc.base, 1);

    Mtest__Big big = MTEST__BIG__INIT;
    char *strs[] = { "s1", "s22" };
    big.title = "t";
    big.root = &leaf;
    big.n_strs = 2;
    big.strs = strs;
    big.n_blobs = 2;
    big.blobs = blobs;
    rc |= write_payload(&h, dir, &big.base, 1);

    Mtest__Choice choice = MTEST__CHOICE__INIT, inner = MTEST__CHOICE__INIT;
    Mtest__Choice *more[] = { &inner };
    inner.pick_case = MTEST__CHOICE__PICK_RAW;
    inner.raw = (ProtobufCBinaryData){ 3, (uint8_t *)"raw" };
    choice.pick_case = MTEST__CHOICE__PICK_NODE;
    choice.node = &leaf;
    choice.n_more = 1;
    choice.more = more;
    rc |= write_payload(&h, dir, &choice.base, 1);

    harness_close(&h);
    return rc;
}

/* ---- layout --------------------------------------------------------------------------------- */

static int layout_seeds(const char *dir)
{
    const mrpc_service_desc_t *services[] = {
        harness_service(), &mrpc_test__echo__service, &shop__v1__catalog_service__service,
        &shop__v1__cart_service__service, &shop__v1__checkout_service__service,
        &legacy__inventory__inventory_service__service,
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        void *blob;
        size_t len;
        if (mrpc_layout_encode_service(services[i], &blob, &len) != 0) {
            fprintf(stderr, "%s: no layout\n", services[i]->full_name);
            return -1;
        }
        rc |= write_file(dir, services[i]->full_name, NULL, blob, len);
        free(blob);
    }
    return rc;
}

/* ---- control -------------------------------------------------------------------------------- */

static int write_request(const char *dir, const char *kind, Phoenix__Control__Request *req)
{
    static uint64_t id = 1;
    req->id = id++;
    size_t len = phoenix__control__request__get_packed_size(req);
    uint8_t *buf = malloc(len);
    char name[128];
    int rc = 0;
    if (!buf || phoenix__control__request__pack(req, buf) != len) {
        fprintf(stderr, "%s: the request does not pack\n", kind);
        free(buf);
        return -1;
    }
    for (uint8_t admin = 0; admin < 2; admin++) {
        snprintf(name, sizeof(name), "%s-%s", kind, admin ? "admin" : "user");
        rc |= write_file(dir, name, &admin, buf, len);
    }
    free(buf);
    return rc;
}

static int control_seeds(const char *dir)
{
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    int rc = 0;

    Phoenix__Control__Register reg = PHOENIX__CONTROL__REGISTER__INIT;
    reg.service = "mrpc";
    reg.ring_depth = 64;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    rc |= write_request(dir, "register", &req);

    Phoenix__Control__ListRequest list = PHOENIX__CONTROL__LIST_REQUEST__INIT;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_LIST;
    req.list = &list;
    rc |= write_request(dir, "list", &req);

    Phoenix__Control__PluginsRequest plugins = PHOENIX__CONTROL__PLUGINS_REQUEST__INIT;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_PLUGINS;
    req.plugins = &plugins;
    rc |= write_request(dir, "plugins", &req);

    Phoenix__Control__SpliceRequest splice = PHOENIX__CONTROL__SPLICE_REQUEST__INIT;
    splice.pid = 0;     /* fuzz_control.c: the fuzz app */
    splice.sid = 0;
    splice.descriptor_text =
        "addon_engine = \"NullEngine\"; op = \"attach\";\n"
        "tx_channels_replacements = ( (\"TestSourceEngine\", \"NullEngine\", 0, 0),\n"
        "                             (\"NullEngine\", \"TestSinkEngine\", 0, 0) );\n"
        "rx_channels_replacements = ( (\"TestSinkEngine\", \"NullEngine\", 0, 0),\n"
        "                             (\"NullEngine\", \"TestSourceEngine\", 0, 0) );\n"
        "group = [ \"TestSourceEngine\", \"TestSinkEngine\" ];\n"
        "config_string = \"batch = 256;\";\n";
    splice.origin = "policyctl (uid 4242)";
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_SPLICE;
    req.splice = &splice;
    rc |= write_request(dir, "splice-attach", &req);
    splice.descriptor_text = "addon_engine = \"NullEngine\"; op = \"detach\";\n"
                             "tx_channels_replacements = ( (\"TestSourceEngine\", "
                             "\"TestSinkEngine\", 0, 0) );\n"
                             "rx_channels_replacements = ( (\"TestSinkEngine\", "
                             "\"TestSourceEngine\", 0, 0) );\n";
    rc |= write_request(dir, "splice-detach", &req);

    Phoenix__Control__EngineAdminRequest ea = PHOENIX__CONTROL__ENGINE_ADMIN_REQUEST__INIT;
    ea.engine_id = 0;   /* fuzz_control.c: the fuzz app's first engine */
    ea.request = "stats";
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN;
    req.engine_admin = &ea;
    rc |= write_request(dir, "engine_admin", &req);

    Phoenix__Control__ReconfigureRequest rec = PHOENIX__CONTROL__RECONFIGURE_REQUEST__INIT;
    rec.engine_id = 1;
    rec.config_string = "batch = 64;";
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RECONFIGURE;
    req.reconfigure = &rec;
    rc |= write_request(dir, "reconfigure", &req);

    Phoenix__Control__RuleAddRequest ra = PHOENIX__CONTROL__RULE_ADD_REQUEST__INIT;
    ra.selector = "all";
    ra.engine = "NullEngine";
    ra.config_string = "batch = 32;";
    ra.origin = "policyctl (uid 0)";
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULE_ADD;
    req.rule_add = &ra;
    rc |= write_request(dir, "rule_add-all", &req);
    ra.selector = "job";
    ra.job = "42";
    rc |= write_request(dir, "rule_add-job", &req);
    ra.selector = "uid";
    ra.job = "";
    ra.uid = 4242;      /* fuzz_control.c: the fuzz app's uid */
    rc |= write_request(dir, "rule_add-uid", &req);

    Phoenix__Control__RuleRemoveRequest rr = PHOENIX__CONTROL__RULE_REMOVE_REQUEST__INIT;
    rr.rule_id = 1;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULE_REMOVE;
    req.rule_remove = &rr;
    rc |= write_request(dir, "rule_remove", &req);

    Phoenix__Control__RulesRequest rules = PHOENIX__CONTROL__RULES_REQUEST__INIT;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULES;
    req.rules = &rules;
    rc |= write_request(dir, "rules", &req);

    Phoenix__Control__UpgradeRequest up = PHOENIX__CONTROL__UPGRADE_REQUEST__INIT;
    char *paths[] = { "libphoenix_null.so" };
    up.n_paths = 1;
    up.paths = paths;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_UPGRADE;
    req.upgrade = &up;
    rc |= write_request(dir, "upgrade", &req);

    Phoenix__Control__TopologyRequest topo = PHOENIX__CONTROL__TOPOLOGY_REQUEST__INIT;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_TOPOLOGY;
    req.topology = &topo;
    rc |= write_request(dir, "topology", &req);
    return rc;
}

/* ---- handshake ------------------------------------------------------------------------------ */

/* The frames of the wire-up, in the order a client and a server exchange them. The worker
 * addresses and the credential are stand-ins of realistic sizes: the parser only counts them. */
static int handshake_seeds(const char *dir)
{
    static uint8_t addr[180], cred[140], all[4 * PHX_UCX_HS_FRAME_MAX], one[PHX_UCX_HS_FRAME_MAX];
    const struct phx_ucx_hs_msg frames[] = {
        { .type = PHX_UCX_HS_HELLO, .nonce = "client-nonce-16", .auth = PHX_UCX_AUTH_MUNGE },
        { .type = PHX_UCX_HS_WELCOME, .nonce = "server-nonce-16", .auth = PHX_UCX_AUTH_MUNGE,
          .addr = addr, .addr_len = sizeof(addr), .cred = cred, .cred_len = sizeof(cred) },
        { .type = PHX_UCX_HS_AUTH, .addr = addr, .addr_len = sizeof(addr), .cred = cred,
          .cred_len = sizeof(cred) },
        { .type = PHX_UCX_HS_DONE },
        { .type = PHX_UCX_HS_REFUSE, .reason = PHX_UCX_HS_R_AUTH },
        { .type = PHX_UCX_HS_WELCOME, .nonce = "no-auth-nonce16", .addr = addr,
          .addr_len = sizeof(addr) },
    };
    static const char *const names[] = { "hello", "welcome", "auth", "done", "refuse",
                                         "welcome-noauth" };
    size_t total = 0;
    int rc = 0;

    for (size_t i = 0; i < sizeof(addr); i++)
        addr[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof(cred); i++)
        cred[i] = (uint8_t)('A' + i % 26);
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        size_t n = phx_ucx_hs_encode(&frames[i], one, sizeof(one));
        if (n == 0) {
            fprintf(stderr, "handshake: frame %s does not encode\n", names[i]);
            return -1;
        }
        rc |= write_file(dir, names[i], NULL, one, n);
        if (i < 4) {                    /* hello, welcome, auth, done: one exchange */
            memcpy(all + total, one, n);
            total += n;
        }
    }
    return rc | write_file(dir, "exchange", NULL, all, total);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *what;
        int (*make)(const char *dir);
    } kinds[] = { { "decode", decode_seeds }, { "layout", layout_seeds },
                  { "control", control_seeds }, { "handshake", handshake_seeds } };
    for (size_t i = 0; argc == 3 && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(argv[1], kinds[i].what) == 0)
            return kinds[i].make(argv[2]) ? 1 : 0;
    fprintf(stderr, "usage: %s decode|layout|control|handshake DIR\n", argv[0]);
    return 2;
}
