/* profile_peer.c - profile_peer ADDR:PORT: the server of test_mrpc_profile, serving
 * tests/proto/hotel_profile.proto with the typed builders only (see peer_main.h for the rest):
 *
 *   Profile.GetProfiles  profile_build_reply() (profile_rules.h): the tutorial's nested reply
 *   ProfileCache.Store   the received result copied into the reply from the receive heap: even
 *                        hotels whole (_add_hotels_from), odd ones field by field (_set_*_from,
 *                        _add_images_from), so both kinds of copy cross a real service pair */
#include "peer_main.h"
#include "profile_rules.h"

#include <errno.h>

static phx_status_t heap_full(mrpc_call_t *call)
{
    mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
    return PHX_RESOURCE_EXHAUSTED;
}

static phx_status_t get_profiles(void *impl, mrpc_call_t *call,
                                 const Profile__GetProfilesRequest *req,
                                 Profile__GetProfilesResult **reply)
{
    *reply = profile_build_reply(impl, req);
    return *reply ? PHX_OK : heap_full(call);
}

/* H (received) copied into a new hotel of RES field by field; 0 or a negative errno. */
static int copy_fields(mrpc_ctx_t *ctx, Profile__GetProfilesResult *res, const Profile__Hotel *h)
{
    Profile__Hotel *to = profile__get_profiles_result_add_hotels(ctx, res);
    int rc = !to ? -ENOMEM
           : profile__hotel_set_id_from(ctx, to, h->id) ||
             profile__hotel_set_name_from(ctx, to, h->name) ||
             profile__hotel_set_phone_number_from(ctx, to, h->phone_number) ||
             profile__hotel_set_description_from(ctx, to, h->description) ? -ENOMEM : 0;

    if (!rc && h->address)
        rc = profile__hotel_set_address_from(ctx, to, h->address);
    for (size_t i = 0; !rc && i < h->n_images; i++)
        rc = profile__hotel_add_images_from(ctx, to, h->images[i]) ? 0 : -ENOMEM;
    return rc;
}

static phx_status_t store(void *impl, mrpc_call_t *call, const Profile__GetProfilesResult *req,
                          Profile__GetProfilesResult **reply)
{
    mrpc_ctx_t *ctx = impl;
    Profile__GetProfilesResult *res = profile__get_profiles_result_new(ctx);
    int rc = res ? 0 : -ENOMEM;

    for (size_t i = 0; !rc && i < req->n_hotels; i++) {
        if (i % 2 == 0)
            rc = profile__get_profiles_result_add_hotels_from(ctx, res, req->hotels[i]) ? 0
                                                                                          : -ENOMEM;
        else
            rc = copy_fields(ctx, res, req->hotels[i]);
    }
    if (rc) {
        mrpc_message_free(ctx, res ? &res->base : NULL);
        return heap_full(call);
    }
    *reply = res;
    return PHX_OK;
}

static const Profile__Profile_Handlers profile = { .get_profiles = get_profiles };
static const Profile__ProfileCache_Handlers cache = { .store = store };

static mrpc_status_t add_services(mrpc_server_t *server, mrpc_ctx_t *ctx)
{
    mrpc_status_t st = profile__profile__add_to_server(server, &profile, ctx);
    return st.code == PHX_OK ? profile__profile_cache__add_to_server(server, &cache, ctx) : st;
}

int main(int argc, char **argv)
{
    return mrpc_peer_main(argc, argv, "profile_peer", add_services);
}
