/* splice.h - attaching and detaching policy engines in a running subscription.
 *
 * phx_splice() carries out one policy descriptor (addon_desc.h) on a subscription. It validates
 * the whole request against a copy of the subscription's channel graph before touching anything;
 * a refused request leaves the subscription exactly as it was. An accepted one suspends the
 * group (if it is on a runtime), rewires it without losing or reordering a descriptor, and
 * resumes it.
 *
 * Rewiring rules. The replacements are the channels as they are to be after the operation; an
 * existing channel that shares an out port or an in port with a replacement is replaced, and
 * every channel of a detached engine goes. A channel keeps serving its producer's out port:
 * a replacement from (X, p) reuses the channel X's port p fed before, with what it holds.
 * Descriptors in a channel that goes (fed by the detached engine) are put in front of those in
 * the channel that feeds the same in port afterwards, so nothing is lost or overtaken. After the
 * operation every port that was connected, and every port the addon declares, must be connected
 * exactly once. */
#ifndef PHX_SPLICE_H
#define PHX_SPLICE_H

#include <stddef.h>

#include "phoenix/admin/addon_desc.h"
#include "graph.h"

struct phx_registry;

/* Attaches or detaches D->engine in SUB. 0, or a negative errno with one sentence in ERR
 * (-EINVAL for a descriptor that does not fit the subscription, -ENOENT for an unknown engine
 * type, or what the addon's create() or the runtime returned). */
int phx_splice(struct phx_registry *reg, struct phx_subscription *sub,
               const struct phx_addon_desc *d, char *err, size_t errlen);

/* Makes E push the descriptors it holds inside to its out ports, growing full out channels
 * while E reports held descriptors, before E is taken out of service (detach, live upgrade).
 * E's group must be suspended. 0, or -EBUSY / E's error with the reason in ERR. */
int phx_splice_flush(phx_engine_t *e, char *err, size_t errlen);

#endif /* PHX_SPLICE_H */
