/* mrpc_double.c - the recording stand-ins of mrpc_double.h: record, then answer as told. */
#include "mrpc_double.h"

#include <stdio.h>
#include <string.h>

mrpc_double_t mrpc_double;

void mrpc_double_reset(void)
{
    memset(&mrpc_double, 0, sizeof(mrpc_double));
}

mrpc_status_t mrpc_call(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                        const ProtobufCMessage *req, const ProtobufCMessage **reply,
                        const mrpc_call_opts_t *opts)
{
    mrpc_double.call.count++;
    mrpc_double.call.conn = conn;
    mrpc_double.call.method = method;
    mrpc_double.call.req = req;
    mrpc_double.call.reply_wanted = reply != NULL;
    mrpc_double.call.opts = opts;
    if (reply)
        *reply = mrpc_double.call.answer_reply;
    return mrpc_double.call.answer;
}

mrpc_status_t mrpc_call_async(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                              const ProtobufCMessage *req, mrpc_completion_fn done, void *token,
                              const mrpc_call_opts_t *opts)
{
    mrpc_double.call_async.count++;
    mrpc_double.call_async.conn = conn;
    mrpc_double.call_async.method = method;
    mrpc_double.call_async.req = req;
    mrpc_double.call_async.done = done;
    mrpc_double.call_async.token = token;
    mrpc_double.call_async.opts = opts;
    return mrpc_double.call_async.answer;
}

void mrpc_call_set_error(mrpc_call_t *call, phx_status_t code, const char *message)
{
    mrpc_double.set_error.count++;
    mrpc_double.set_error.call = call;
    mrpc_double.set_error.code = code;
    snprintf(mrpc_double.set_error.message, sizeof(mrpc_double.set_error.message), "%s",
             message ? message : "");
}

mrpc_status_t mrpc_server_add_service(mrpc_server_t *server, const mrpc_service_desc_t *service,
                                      const void *handlers, void *impl)
{
    mrpc_double.add_service.count++;
    mrpc_double.add_service.server = server;
    mrpc_double.add_service.service = service;
    mrpc_double.add_service.handlers = handlers;
    mrpc_double.add_service.impl = impl;
    return mrpc_double.add_service.answer;
}
