/* sdk.h - what the policy SDK's files share (private to policies/sdk). */
#ifndef PHX_POLICY_SDK_H
#define PHX_POLICY_SDK_H

#include "phoenix/policy.h"

/* What phx_call_t.ctx points at while decide() runs: the policy, its engine and the descriptor
 * the call was read from, for phx_call_field (content.c). */
struct phx_call_ctx {
    phx_policy_t     *p;
    phx_engine_t     *e;
    const phx_desc_t *d;
};

struct mrpc_method_layout;
struct mrpc_type_layout;
struct mrpc_field_layout;

/* The layout of CALL's method as MrpcEngine shares it with E's group, or NULL (content.c). */
const struct mrpc_method_layout *phx_sdk_method_of(phx_engine_t *e, const phx_call_t *call);
/* The field of T named by the N bytes at NAME, or NULL (content.c). */
const struct mrpc_field_layout *phx_sdk_field_named(const struct mrpc_type_layout *t,
                                                    const char *name, size_t n);

/* Answers the request CALL (read from D) with the reply the policy built (reply.c): pushes the
 * answer into UP, the way up (rx out). 1 when done (an rx request's payload is freed); 0 when UP
 * has no room yet (nothing changed); -1 when the reply cannot be made, with *STATUS and a
 * sentence in WHY for rejecting the call instead. */
int phx_sdk_answer(phx_policy_t *p, phx_engine_t *e, const phx_desc_t *d, const phx_call_t *call,
                   phx_channel_t *up, char *why, size_t whylen, phx_status_t *status);

/* Fills CALL's service and method names from the layouts MrpcEngine shares with E's group
 * (content.c); left NULL when none are known. */
void phx_sdk_call_names(phx_engine_t *e, phx_call_t *call);

#endif /* PHX_POLICY_SDK_H */
