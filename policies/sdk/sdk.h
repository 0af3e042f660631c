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

/* Fills CALL's service and method names from the layouts MrpcEngine shares with E's group
 * (content.c); left NULL when none are known. */
void phx_sdk_call_names(phx_engine_t *e, phx_call_t *call);

#endif /* PHX_POLICY_SDK_H */
