/* test_codegen.c - the stubs protoc-gen-mrpc generated for protos/ (built by mrpc_generate(), so
 * that they compiled at all is the first test) against a recording double of libmrpc
 * (mrpc_double.h): ids, descriptors, client wrappers, dispatch and registration. */
#include "phx_test.h"

#include <stdio.h>
#include <string.h>

#include "cnames.mrpc.h"
#include "kitchen.mrpc.h"
#include "legacy.mrpc.h"
#include "mrpc_double.h"
#include "nopkg.mrpc.h"
#include "rpc_hello.mrpc.h"
#include "uses_import.mrpc.h"

/* Every service generated from protos/, with the number of methods its .proto declares. */
static const struct {
    const mrpc_service_desc_t *desc;
    const char                *full_name;
    unsigned                   n_methods;
} services[] = {
    { &rpc_hello__greeter__service,        "rpc_hello.Greeter",       1 },
    { &kitchen__sink__v2__pantry__service, "kitchen.sink.v2.Pantry",  3 },
    { &kitchen__sink__v2__stove_2__service, "kitchen.sink.v2.Stove_2", 1 },
    { &legacy__archive__service,           "legacy.Archive",          2 },
    { &echo__service,                      "Echo",                    1 },
    { &inventory__inventory__service,      "inventory.Inventory",     2 },
    { &cn__oracle__service,                "renamed.proto_pkg.Oracle", 1 },
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

/* ---- descriptions and ids ---------------------------------------------------------------- */

static void test_ids_are_ids_of_full_names(void)
{
    for (size_t i = 0; i < N_SERVICES; i++) {
        const mrpc_service_desc_t *s = services[i].desc;
        CU_ASSERT_STRING_EQUAL(s->full_name, services[i].full_name);
        CU_ASSERT_EQUAL(s->service_id, mrpc_id_of(services[i].full_name));
        CU_ASSERT_EQUAL(s->n_methods, services[i].n_methods);
        CU_ASSERT_PTR_NOT_NULL(s->dispatch);
        for (unsigned m = 0; m < s->n_methods; m++) {
            char expected[256];
            snprintf(expected, sizeof(expected), "%s.%s", s->full_name, s->methods[m].name);
            CU_ASSERT_STRING_EQUAL(s->methods[m].full_name, expected);
            CU_ASSERT_EQUAL(s->methods[m].method_id, mrpc_id_of(expected));
            CU_ASSERT_EQUAL(s->methods[m].service_id, s->service_id);   /* no split per call */
        }
    }
}

/* The macros are literal constants (usable as case labels) with the values FNV-1a gives,
 * computed here independently of mrpc_id_of(): ids on the wire must never drift. */
static void test_id_macros_are_stable_literals(void)
{
    unsigned which = 0;
    switch (mrpc_id_of("rpc_hello.Greeter.SayHello")) {
    case RPC_HELLO__GREETER__SAY_HELLO__METHOD_ID: which = 1; break;
    case RPC_HELLO__GREETER__SERVICE_ID:           which = 2; break;
    default: break;
    }
    CU_ASSERT_EQUAL(which, 1);
    CU_ASSERT_EQUAL(RPC_HELLO__GREETER__SERVICE_ID, 0x54d11593u);
    CU_ASSERT_EQUAL(RPC_HELLO__GREETER__SAY_HELLO__METHOD_ID, 0xe3a44a52u);
    CU_ASSERT_EQUAL(KITCHEN__SINK__V2__PANTRY__GET__V2_ITEM__METHOD_ID,
                    mrpc_id_of("kitchen.sink.v2.Pantry.Get_V2Item"));
    CU_ASSERT_EQUAL(KITCHEN__SINK__V2__STOVE_2__HEAT3_D__METHOD_ID,
                    mrpc_id_of("kitchen.sink.v2.Stove_2.Heat3D"));
    CU_ASSERT_EQUAL(ECHO__ECHO__METHOD_ID, mrpc_id_of("Echo.Echo"));
    CU_ASSERT_EQUAL(CN__ORACLE__SERVICE_ID, mrpc_id_of("renamed.proto_pkg.Oracle"));
}

static void test_methods_name_protoc_c_descriptors(void)
{
    const mrpc_method_desc_t *m = rpc_hello__greeter__service.methods;
    CU_ASSERT_STRING_EQUAL(m[0].name, "SayHello");
    CU_ASSERT_PTR_EQUAL(m[0].input, &rpc_hello__hello_request__descriptor);
    CU_ASSERT_PTR_EQUAL(m[0].output, &rpc_hello__hello_reply__descriptor);

    m = kitchen__sink__v2__pantry__service.methods;     /* declaration order, nesting */
    CU_ASSERT_STRING_EQUAL(m[0].name, "Store");
    CU_ASSERT_PTR_EQUAL(m[0].input, &kitchen__sink__v2__order__descriptor);
    CU_ASSERT_PTR_EQUAL(m[0].output, &kitchen__sink__v2__receipt__descriptor);
    CU_ASSERT_STRING_EQUAL(m[1].name, "Get_V2Item");
    CU_ASSERT_PTR_EQUAL(m[1].input, &kitchen__sink__v2__order__line__descriptor);
    CU_ASSERT_PTR_EQUAL(m[1].output, &kitchen__sink__v2__order__line__note__descriptor);
    CU_ASSERT_PTR_EQUAL(m[2].input, &kitchen__sink__v2__empty__descriptor);

    m = inventory__inventory__service.methods;          /* types from an imported file */
    CU_ASSERT_PTR_EQUAL(m[0].input, &common__types__id__descriptor);
    CU_ASSERT_PTR_EQUAL(m[0].output, &inventory__item__descriptor);
    CU_ASSERT_PTR_EQUAL(m[1].output, &common__types__status__descriptor);

    m = legacy__archive__service.methods;
    CU_ASSERT_PTR_EQUAL(m[1].output, &legacy__nothing__descriptor);
    CU_ASSERT_PTR_EQUAL(echo__service.methods[0].input, &ping_msg__descriptor);
    CU_ASSERT_PTR_EQUAL(cn__oracle__service.methods[0].input, &cn__ask__descriptor);
}

/* ---- client wrappers --------------------------------------------------------------------- */

static void test_blocking_call_passes_method_and_request(void)
{
    struct mrpc_conn conn = { 1 };
    mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT, .timeout_ms = 5 };
    RpcHello__HelloRequest req = RPC_HELLO__HELLO_REQUEST__INIT;
    RpcHello__HelloReply answer = RPC_HELLO__HELLO_REPLY__INIT;
    const RpcHello__HelloReply *reply = NULL;

    mrpc_double_reset();
    mrpc_double.call.answer_reply = &answer.base;
    mrpc_status_t st = rpc_hello__greeter__say_hello_call(&conn, &req, &reply, &opts);
    CU_ASSERT_EQUAL(st.code, PHX_OK);
    CU_ASSERT_EQUAL(mrpc_double.call.count, 1);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.conn, &conn);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.method, &rpc_hello__greeter__service.methods[0]);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.req, &req.base);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.opts, &opts);
    CU_ASSERT_PTR_EQUAL(reply, &answer);
    CU_ASSERT_EQUAL(mrpc_double.call_async.count, 0);
}

static void test_blocking_call_returns_errors_whole(void)
{
    struct mrpc_conn conn = { 1 };
    Legacy__Query req = LEGACY__QUERY__INIT;
    Legacy__Record stale = LEGACY__RECORD__INIT;
    const Legacy__Record *reply = &stale;     /* must be overwritten */

    mrpc_double_reset();
    mrpc_double.call.answer.code = PHX_DEADLINE_EXCEEDED;
    snprintf(mrpc_double.call.answer.message, sizeof(mrpc_double.call.answer.message), "late");
    mrpc_status_t st = legacy__archive__fetch_call(&conn, &req, &reply, NULL);
    CU_ASSERT_EQUAL(st.code, PHX_DEADLINE_EXCEEDED);
    CU_ASSERT_STRING_EQUAL(st.message, "late");
    CU_ASSERT_PTR_NULL(reply);
    CU_ASSERT_PTR_NULL(mrpc_double.call.opts);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.method, &legacy__archive__service.methods[0]);
}

/* NULL request or reply pointer: passed on as NULL for libmrpc to refuse, never dereferenced. */
static void test_blocking_call_passes_null_through(void)
{
    struct mrpc_conn conn = { 1 };
    Legacy__Query req = LEGACY__QUERY__INIT;
    const Legacy__Nothing *reply = NULL;

    mrpc_double_reset();
    mrpc_double.call.answer.code = PHX_INVALID_ARGUMENT;
    CU_ASSERT_EQUAL(legacy__archive__forget_call(&conn, NULL, &reply, NULL).code,
                    PHX_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(mrpc_double.call.req);
    CU_ASSERT_TRUE(mrpc_double.call.reply_wanted);
    legacy__archive__forget_call(&conn, &req, NULL, NULL);
    CU_ASSERT_FALSE(mrpc_double.call.reply_wanted);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.req, &req.base);
    CU_ASSERT_EQUAL(mrpc_double.call.count, 2);
}

static void completion(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *status,
                       const ProtobufCMessage *reply)
{
}

static void test_async_call_passes_done_and_token(void)
{
    struct mrpc_conn conn = { 2 };
    int token;
    Kitchen__Sink__V2__Order__Line req = KITCHEN__SINK__V2__ORDER__LINE__INIT;
    mrpc_call_opts_t opts = { 0 };

    mrpc_double_reset();
    mrpc_double.call_async.answer = (mrpc_status_t){ PHX_RESOURCE_EXHAUSTED, "too many calls" };
    mrpc_status_t st = kitchen__sink__v2__pantry__get__v2_item_async(&conn, &req, completion,
                                                                     &token, &opts);
    CU_ASSERT_EQUAL(st.code, PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_STRING_EQUAL(st.message, "too many calls");    /* the reason comes through */
    CU_ASSERT_EQUAL(mrpc_double.call_async.count, 1);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.conn, &conn);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.method,
                        &kitchen__sink__v2__pantry__service.methods[1]);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.req, &req.base);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.done, completion);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.token, &token);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call_async.opts, &opts);
    CU_ASSERT_EQUAL(mrpc_double.call.count, 0);
}

/* base_field_name renames the member the wrappers take the address of. */
static void test_renamed_base_member(void)
{
    struct mrpc_conn conn = { 3 };
    Cn__Ask req = CN__ASK__INIT;
    Cn__Answer answer = CN__ANSWER__INIT;
    const Cn__Answer *reply = NULL;

    mrpc_double_reset();
    mrpc_double.call.answer_reply = &answer.header;
    cn__oracle__consult_call(&conn, &req, &reply, NULL);
    CU_ASSERT_PTR_EQUAL(mrpc_double.call.req, &req.header);
    CU_ASSERT_PTR_EQUAL(reply, &answer);
}

/* ---- server side ------------------------------------------------------------------------- */

typedef struct handler_log {
    int                           calls;
    const char                   *which;
    void                         *impl;
    mrpc_call_t                  *call;
    const void                   *req;
    phx_status_t                  answer;
    RpcHello__HelloReply          hello;
    Kitchen__Sink__V2__Empty      empty;
} handler_log_t;

static phx_status_t say_hello(void *impl, mrpc_call_t *call, const RpcHello__HelloRequest *req,
                              RpcHello__HelloReply **reply)
{
    handler_log_t *log = impl;
    log->calls++;
    log->which = "say_hello";
    log->impl = impl;
    log->call = call;
    log->req = req;
    *reply = &log->hello;
    return log->answer;
}

static void test_dispatch_calls_typed_handler(void)
{
    handler_log_t log = { .answer = PHX_NOT_FOUND };
    RpcHello__Greeter_Handlers handlers = { .say_hello = say_hello };
    struct mrpc_call call = { 4 };
    RpcHello__HelloRequest req = RPC_HELLO__HELLO_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;

    rpc_hello__hello_reply__init(&log.hello);
    mrpc_double_reset();
    phx_status_t st = rpc_hello__greeter__service.dispatch(&handlers, &log, 0, &call, &req.base,
                                                           &reply);
    CU_ASSERT_EQUAL(st, PHX_NOT_FOUND);      /* the handler's status, whatever it is */
    CU_ASSERT_EQUAL(log.calls, 1);
    CU_ASSERT_PTR_EQUAL(log.impl, &log);
    CU_ASSERT_PTR_EQUAL(log.call, &call);
    CU_ASSERT_PTR_EQUAL(log.req, &req);
    CU_ASSERT_PTR_EQUAL(reply, &log.hello.base);
    CU_ASSERT_EQUAL(mrpc_double.set_error.count, 0);
}

static phx_status_t store(void *impl, mrpc_call_t *call, const Kitchen__Sink__V2__Order *req,
                          Kitchen__Sink__V2__Receipt **reply)
{
    ((handler_log_t *)impl)->which = "store";
    return PHX_OK;
}

static phx_status_t clear(void *impl, mrpc_call_t *call, const Kitchen__Sink__V2__Empty *req,
                          Kitchen__Sink__V2__Empty **reply)
{
    handler_log_t *log = impl;
    log->which = "clear";
    log->req = req;
    *reply = &log->empty;
    return PHX_OK;
}

static void test_dispatch_picks_handler_by_index(void)
{
    handler_log_t log = { 0 };
    Kitchen__Sink__V2__Pantry_Handlers handlers = { .store = store, .clear = clear };
    struct mrpc_call call = { 5 };
    Kitchen__Sink__V2__Empty req = KITCHEN__SINK__V2__EMPTY__INIT;
    ProtobufCMessage *reply = NULL;
    const mrpc_service_desc_t *s = &kitchen__sink__v2__pantry__service;

    kitchen__sink__v2__empty__init(&log.empty);
    CU_ASSERT_EQUAL(s->dispatch(&handlers, &log, 2, &call, &req.base, &reply), PHX_OK);
    CU_ASSERT_STRING_EQUAL(log.which, "clear");
    CU_ASSERT_PTR_EQUAL(log.req, &req);
    CU_ASSERT_PTR_EQUAL(reply, &log.empty.base);
    CU_ASSERT_EQUAL(s->dispatch(&handlers, &log, 0, &call, &req.base, &reply), PHX_OK);
    CU_ASSERT_STRING_EQUAL(log.which, "store");
    CU_ASSERT_PTR_NULL(reply);               /* store() left *reply NULL: so does dispatch */
}

static void assert_unimplemented(phx_status_t st, const ProtobufCMessage *reply,
                                 const mrpc_call_t *call, const char *message_part)
{
    CU_ASSERT_EQUAL(st, PHX_UNIMPLEMENTED);
    CU_ASSERT_PTR_NULL(reply);
    CU_ASSERT_EQUAL(mrpc_double.set_error.count, 1);
    CU_ASSERT_PTR_EQUAL(mrpc_double.set_error.call, call);
    CU_ASSERT_EQUAL(mrpc_double.set_error.code, PHX_UNIMPLEMENTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(mrpc_double.set_error.message, message_part));
}

static void test_null_handler_is_unimplemented(void)
{
    handler_log_t log = { 0 };
    Kitchen__Sink__V2__Pantry_Handlers handlers = { .store = store };    /* no get__v2_item */
    struct mrpc_call call = { 6 };
    Kitchen__Sink__V2__Order__Line req = KITCHEN__SINK__V2__ORDER__LINE__INIT;
    ProtobufCMessage *reply = &req.base;      /* must be cleared */

    mrpc_double_reset();
    phx_status_t st = kitchen__sink__v2__pantry__service.dispatch(&handlers, &log, 1, &call,
                                                                  &req.base, &reply);
    assert_unimplemented(st, reply, &call, "kitchen.sink.v2.Pantry.Get_V2Item");
    CU_ASSERT_PTR_NULL(log.which);
}

static void test_bad_index_or_table_is_unimplemented(void)
{
    RpcHello__Greeter_Handlers handlers = { .say_hello = say_hello };
    handler_log_t log = { 0 };
    struct mrpc_call call = { 7 };
    RpcHello__HelloRequest req = RPC_HELLO__HELLO_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    const mrpc_service_desc_t *s = &rpc_hello__greeter__service;

    mrpc_double_reset();
    assert_unimplemented(s->dispatch(&handlers, &log, 1, &call, &req.base, &reply), reply, &call,
                         "rpc_hello.Greeter");
    mrpc_double_reset();
    assert_unimplemented(s->dispatch(NULL, &log, 0, &call, &req.base, &reply), reply, &call,
                         "rpc_hello.Greeter.SayHello");
    CU_ASSERT_EQUAL(log.calls, 0);
}

static phx_status_t consult(void *impl, mrpc_call_t *call, const Cn__Ask *req, Cn__Answer **reply)
{
    *reply = impl;
    return PHX_OK;
}

static void test_dispatch_uses_renamed_base_member(void)
{
    Cn__Oracle_Handlers handlers = { .consult = consult };
    Cn__Answer answer = CN__ANSWER__INIT;
    Cn__Ask req = CN__ASK__INIT;
    struct mrpc_call call = { 8 };
    ProtobufCMessage *reply = NULL;

    CU_ASSERT_EQUAL(cn__oracle__service.dispatch(&handlers, &answer, 0, &call, &req.header, &reply),
                    PHX_OK);
    CU_ASSERT_PTR_EQUAL(reply, &answer.header);
}

static void test_add_to_server_passes_table_through(void)
{
    struct mrpc_server server = { 9 };
    RpcHello__Greeter_Handlers handlers = { .say_hello = say_hello };
    int impl;

    mrpc_double_reset();
    mrpc_double.add_service.answer = (mrpc_status_t){ PHX_ALREADY_EXISTS, "served already" };
    mrpc_status_t st = rpc_hello__greeter__add_to_server(&server, &handlers, &impl);
    CU_ASSERT_EQUAL(st.code, PHX_ALREADY_EXISTS);
    CU_ASSERT_STRING_EQUAL(st.message, "served already");
    CU_ASSERT_EQUAL(mrpc_double.add_service.count, 1);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.server, &server);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.service, &rpc_hello__greeter__service);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.handlers, &handlers);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.impl, &impl);

    Inventory__Inventory_Handlers none = { 0 };
    mrpc_double.add_service.answer = (mrpc_status_t){ PHX_OK, "OK" };
    CU_ASSERT_EQUAL(inventory__inventory__add_to_server(&server, &none, NULL).code, PHX_OK);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.service, &inventory__inventory__service);
    CU_ASSERT_PTR_EQUAL(mrpc_double.add_service.handlers, &none);
}

static const phx_test_case_t cases[] = {
    { "ids are mrpc_id_of of full names", test_ids_are_ids_of_full_names },
    { "id macros are stable literals", test_id_macros_are_stable_literals },
    { "methods name protoc-c descriptors", test_methods_name_protoc_c_descriptors },
    { "blocking call passes method and request", test_blocking_call_passes_method_and_request },
    { "blocking call returns errors whole", test_blocking_call_returns_errors_whole },
    { "blocking call passes null through", test_blocking_call_passes_null_through },
    { "async call passes done and token", test_async_call_passes_done_and_token },
    { "renamed base member in wrappers", test_renamed_base_member },
    { "dispatch calls typed handler", test_dispatch_calls_typed_handler },
    { "dispatch picks handler by index", test_dispatch_picks_handler_by_index },
    { "null handler is unimplemented", test_null_handler_is_unimplemented },
    { "bad index or table is unimplemented", test_bad_index_or_table_is_unimplemented },
    { "dispatch uses renamed base member", test_dispatch_uses_renamed_base_member },
    { "add_to_server passes table through", test_add_to_server_passes_table_through },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("codegen", cases, argc, argv);
}
