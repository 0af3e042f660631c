/* profile_rules.h - the hotels behind the Profile service of tests/proto/hotel_profile.proto, and
 * the reply GetProfiles gives, built with the generated typed builders: one definition for the
 * server that answers (profile_peer.c), the builders' unit test (tests/codegen) and the test
 * that predicts the answer (test_mrpc_profile.c). */
#ifndef PROFILE_RULES_H
#define PROFILE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "hotel_profile.mrpc.h"

struct hotel_image {
    const char *url;
    bool        is_default;
};

struct hotel_row {
    const char *id, *name, *phone, *description;
    const char *street_number, *street_name, *city, *state, *country, *postal_code;
    float       lat, lon;
    size_t      n_images;
    const struct hotel_image *images;
};

extern const struct hotel_row hotel_rows[];
extern const size_t           n_hotel_rows;

/* The row with ID, or NULL. */
const struct hotel_row *hotel_find(const char *id);

/* GetProfiles' reply: one Hotel per known id of REQ, in order (unknown ids are skipped), built
 * in CTX's send heap; NULL when the heap is full. */
Profile__GetProfilesResult *profile_build_reply(mrpc_ctx_t *ctx,
                                                const Profile__GetProfilesRequest *req);

#endif /* PROFILE_RULES_H */
