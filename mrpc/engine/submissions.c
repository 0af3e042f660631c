/* submissions.c - the app's submissions (mrpc/app_proto.h), one handler per kind.
 *
 * Submissions are taken in order, a bounded batch at a time, and only as many as the engine can
 * answer without overflowing anything: each may queue one tx descriptor and two completions, so
 * the budget is what the tx queue and the completion backlog have room for, and nothing at all
 * while the bytes in flight exceed settings.mrpc.inflight_mb (the app's ring then fills and libmrpc
 * waits: back-pressure, not buffering).
 *
 * Nothing in a submission is trusted. Addresses are checked against the send heap, blobs are
 * copied out of it before they are parsed (the app may rewrite them meanwhile), messages go
 * through the marshal library's validating encoder, and every refusal completes with a status
 * and a sentence while the engine carries on with the next submission. */
#include "mrpc_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- REGISTER_SERVICE ------------------------------------------------------------------- */

static void on_register(struct mrpc_engine *m, const phx_desc_t *sub)
{
    phx_desc_t answer = { .kind = MRPC_APP_REGISTERED, .service_id = sub->service_id,
                          .user = sub->user };
    char err[256] = "";

    if (sub->len == 0 || sub->len > MRPC_LAYOUT_MAX_BLOB ||
        !phx_app_port_send_contains(m->port, sub->addr, sub->len)) {
        m->stats.invalid_argument++;
        eng_complete_text(m, answer, PHX_INVALID_ARGUMENT, "the layout blob (%llu bytes at "
                          "0x%llx) must lie in the send heap and hold at most %u bytes",
                          (unsigned long long)sub->len, (unsigned long long)sub->addr,
                          MRPC_LAYOUT_MAX_BLOB);
        return;
    }
    void *copy = malloc(sub->len);          /* parse a private copy: the app may rewrite it */
    if (!copy) {
        eng_complete_text(m, answer, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    memcpy(copy, (const void *)(uintptr_t)sub->addr, sub->len);
    int rc = eng_layouts_add(m, copy, sub->len, err, sizeof(err));
    free(copy);
    if (rc == 0) {
        eng_complete(m, &answer);
        return;
    }
    if (rc == -EINVAL)
        m->stats.invalid_argument++;
    eng_complete_text(m, answer, phx_status_of_errno(rc),
                      "cannot register the layouts of service 0x%08x: %s", sub->service_id, err);
}

/* ---- CALL ------------------------------------------------------------------------------- */

/* Refuses the app's CALL SUB: its message comes back, and the call ends with STATUS. */
static void refuse_call(struct mrpc_engine *m, const phx_desc_t *sub, phx_status_t status,
                        const char *why)
{
    phx_desc_t answer = { .kind = MRPC_APP_REPLY_RECEIVED, .conn_id = sub->conn_id,
                          .service_id = sub->service_id, .method_id = sub->method_id,
                          .call_id = sub->call_id, .user = sub->user };

    if (status == PHX_INVALID_ARGUMENT)
        m->stats.invalid_argument++;
    else if (status == PHX_NOT_FOUND)
        m->stats.not_found++;
    m->stats.errors++;
    eng_send_done_now(m, sub, status);
    eng_complete_text(m, answer, status, "%s", why);
}

/* The method's layout, with the app's message checked to be of its TYPE's size; NULL after
 * saying why in WHY with *STATUS. */
static const struct mrpc_method_layout *method_for(struct mrpc_engine *m, const phx_desc_t *sub,
                                                   bool output, phx_status_t *status,
                                                   char *why, size_t whylen)
{
    const struct mrpc_method_layout *ml = eng_layouts_find(m, sub->service_id, sub->method_id);

    if (!ml) {
        *status = PHX_NOT_FOUND;
        snprintf(why, whylen, "method 0x%08x of service 0x%08x has no registered layout",
                 sub->method_id, sub->service_id);
        return NULL;
    }
    const struct mrpc_type_layout *t = output ? ml->output : ml->input;
    if (sub->len != mrpc_type_size(t)) {
        *status = PHX_INVALID_ARGUMENT;
        snprintf(why, whylen, "a %s is %zu bytes, the submission says %llu", mrpc_type_name(t),
                 mrpc_type_size(t), (unsigned long long)sub->len);
        return NULL;
    }
    return ml;
}

static void on_call(struct mrpc_engine *m, const phx_desc_t *sub)
{
    char why[512];
    phx_status_t status;
    const struct mrpc_method_layout *ml;
    uint64_t wire_id;

    if (!eng_conn_usable(m, sub->conn_id, why, sizeof(why))) {
        refuse_call(m, sub, PHX_UNAVAILABLE, why);
        return;
    }
    if (!(ml = method_for(m, sub, false, &status, why, sizeof(why)))) {
        refuse_call(m, sub, status, why);
        return;
    }
    struct eng_call *call = eng_call_add(m, sub, ml, &wire_id);
    if (!call) {
        refuse_call(m, sub, PHX_RESOURCE_EXHAUSTED, "too many calls waiting for replies");
        return;
    }
    struct mrpc_wire_hdr hdr;
    eng_wire_hdr_init(&hdr, MRPC_WIRE_CALL, sub->service_id, sub->method_id, wire_id);
    status = eng_send_message(m, sub, ml->input, &hdr, call->deadline_ns, why, sizeof(why));
    if (status != PHX_OK) {
        eng_call_release(m, eng_call_take(m, wire_id, sub->conn_id));
        refuse_call(m, sub, status, why);
        return;
    }
    m->stats.calls++;
}

/* ---- REPLY ------------------------------------------------------------------------------ */

/* The app's REPLY SUB cannot go out as it is: the caller still gets an answer, and the app its
 * message back with STATUS. */
static void refuse_reply(struct mrpc_engine *m, const phx_desc_t *sub, phx_status_t status,
                         const char *why)
{
    char text[MRPC_APP_TEXT_MAX];

    if (status == PHX_INVALID_ARGUMENT)
        m->stats.invalid_argument++;
    snprintf(text, sizeof(text), "the server's reply was refused by its mRPC service: %s", why);
    eng_send_error(m, sub, PHX_INTERNAL, text, NULL);
    eng_send_done_now(m, sub, status);
}

/* The app's error text for a failed call, copied out of the send heap, or "" (no text). */
static void copy_error_text(struct mrpc_engine *m, const phx_desc_t *sub, char *text)
{
    size_t len = sub->len < MRPC_APP_TEXT_MAX ? (size_t)sub->len : MRPC_APP_TEXT_MAX - 1;

    text[0] = '\0';
    if (sub->addr && len && phx_app_port_send_contains(m->port, sub->addr, len)) {
        memcpy(text, (const void *)(uintptr_t)sub->addr, len);
        text[len] = '\0';                   /* an unterminated text is cut, not followed */
    }
}

static void on_reply(struct mrpc_engine *m, const phx_desc_t *sub)
{
    char why[512];
    phx_status_t status;
    const struct mrpc_method_layout *ml;

    if (!eng_conn_usable(m, sub->conn_id, why, sizeof(why))) {
        eng_send_done_now(m, sub, PHX_UNAVAILABLE);     /* the caller is gone */
        return;
    }
    m->stats.replies++;
    if (sub->status != PHX_OK) {
        char text[MRPC_APP_TEXT_MAX];
        copy_error_text(m, sub, text);
        eng_send_error(m, sub, (phx_status_t)sub->status, text, sub);
        return;
    }
    if (!(ml = method_for(m, sub, true, &status, why, sizeof(why)))) {
        refuse_reply(m, sub, status, why);
        return;
    }
    struct mrpc_wire_hdr hdr;
    eng_wire_hdr_init(&hdr, MRPC_WIRE_REPLY, sub->service_id, sub->method_id, sub->call_id);
    status = eng_send_message(m, sub, ml->output, &hdr, 0, why, sizeof(why));
    if (status != PHX_OK)
        refuse_reply(m, sub, status, why);
}

/* ---- RELEASE, unknown kinds ------------------------------------------------------------- */

static void refuse(struct mrpc_engine *m, const phx_desc_t *sub, const char *fmt,
                   unsigned long long what)
{
    phx_desc_t answer = { .kind = MRPC_APP_ERROR, .flags = sub->kind, .conn_id = sub->conn_id,
                          .call_id = sub->call_id, .user = sub->user };

    m->stats.invalid_argument++;
    eng_complete_text(m, answer, PHX_INVALID_ARGUMENT, fmt, what);
}

static void on_release(struct mrpc_engine *m, const phx_desc_t *sub)
{
    if (!eng_deliver_release(m, sub->addr))
        refuse(m, sub, "0x%llx is no buffer the service gave this app",
               (unsigned long long)sub->addr);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* The descriptor's `reserved` field is the CALL's call_timeout_ms and must be 0 in every other
 * submission (phoenix/desc.h), so that a later protocol can give it a meaning. */
static bool reserved_zero(struct mrpc_engine *m, const phx_desc_t *sub)
{
    if (sub->kind == MRPC_APP_CALL || sub->reserved == 0)
        return true;
    refuse(m, sub, "the descriptor's reserved field must be 0 in this kind of submission, not "
           "%llu", sub->reserved);
    return false;
}

static void handle(struct mrpc_engine *m, const phx_desc_t *sub)
{
    if (!reserved_zero(m, sub))
        return;
    switch (sub->kind) {
    case MRPC_APP_REGISTER_SERVICE:
        on_register(m, sub);
        break;
    case MRPC_APP_BIND:
    case MRPC_APP_CONNECT:
        eng_conn_open(m, sub);
        break;
    case MRPC_APP_CALL:
        on_call(m, sub);
        break;
    case MRPC_APP_REPLY:
        on_reply(m, sub);
        break;
    case MRPC_APP_RELEASE:
        on_release(m, sub);
        break;
    case MRPC_APP_CLOSE:
        eng_conn_close(m, sub);
        break;
    case MRPC_APP_CANCEL:
        eng_call_cancel(m, sub->conn_id, sub->call_id);     /* ended already: no answer */
        break;
    default:
        refuse(m, sub, "unknown submission kind 0x%llx", sub->kind);
    }
}

unsigned eng_app_budget(const struct mrpc_engine *m)
{
    return m->inflight_bytes < m->inflight_limit ? eng_budget(m, 2) : 0;
}

unsigned eng_app_progress(struct mrpc_engine *m)
{
    phx_desc_t batch[ENG_BATCH];
    unsigned budget = eng_app_budget(m);
    int n = budget ? phx_app_port_pop_submissions(m->port, batch, budget) : 0;

    for (int i = 0; i < n; i++)
        handle(m, &batch[i]);
    return n > 0 ? (unsigned)n : 0;
}
