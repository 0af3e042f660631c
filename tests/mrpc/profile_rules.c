/* profile_rules.c - the hotels and GetProfiles' reply (profile_rules.h). profile_build_reply() is
 * the example of docs/tutorial.md: a nested reply (hotels, each with an address and images) built
 * with the typed builders. Floats include -0.0 and a subnormal, which a copy must keep bit for
 * bit. */
#include "profile_rules.h"

#include <string.h>

static const struct hotel_image images_1[] = {
    { "https://img.example/1/front.jpg", true }, { "https://img.example/1/pool.jpg", false },
};
static const struct hotel_image images_3[] = {
    { "https://img.example/3/a.png", false }, { "https://img.example/3/b.png", true },
    { "https://img.example/3/c.png", false }, { "https://img.example/3/d.png", false },
    { "https://img.example/3/e.png", false },
};

const struct hotel_row hotel_rows[] = {
    { "1", "Clift Hotel", "(415) 775-4700", "A 6-minute walk from Union Square.", "495",
      "Geary St", "San Francisco", "CA", "United States", "94102", 37.7867f, -122.4112f,
      2, images_1 },
    { "2", "W San Francisco", "(415) 777-5300", "", "181", "3rd St", "San Francisco", "CA",
      "United States", "94103", -0.0f, 1e-40f, 0, NULL },
    { "3", "Hôtel «Zürich» 東京", "+81 3-1234-5678", "UTF-8, long:\n" "line two\tand a tab",
      "1-2-3", "Ginza", "Chūō", "Tōkyō", "Japan", "104-0061", 35.6717f, 139.765f, 5, images_3 },
};
const size_t n_hotel_rows = sizeof(hotel_rows) / sizeof(hotel_rows[0]);

const struct hotel_row *hotel_find(const char *id)
{
    for (size_t i = 0; i < n_hotel_rows; i++)
        if (strcmp(hotel_rows[i].id, id) == 0)
            return &hotel_rows[i];
    return NULL;
}

/* ---- the example of docs/tutorial.md and docs/codegen.md: the reply is built in the 25 lines
 * from _new() to the end of the loop (32 with the signature and the error path) ---- */
Profile__GetProfilesResult *profile_build_reply(mrpc_ctx_t *ctx,
                                                const Profile__GetProfilesRequest *req)
{
    Profile__GetProfilesResult *res = profile__get_profiles_result_new(ctx);
    bool full = res == NULL;
    for (size_t i = 0; !full && i < req->n_hotel_ids; i++) {
        const struct hotel_row *row = hotel_find(req->hotel_ids[i]);
        Profile__Hotel *h = row ? profile__get_profiles_result_add_hotels(ctx, res) : NULL;
        Profile__Address *a = h ? profile__hotel_mutable_address(ctx, h) : NULL;
        full = row && (!a || profile__hotel_set_id(ctx, h, row->id) ||
                       profile__hotel_set_name(ctx, h, row->name) ||
                       profile__hotel_set_phone_number(ctx, h, row->phone) ||
                       profile__hotel_set_description(ctx, h, row->description) ||
                       profile__address_set_street_number(ctx, a, row->street_number) ||
                       profile__address_set_street_name(ctx, a, row->street_name) ||
                       profile__address_set_city(ctx, a, row->city) ||
                       profile__address_set_state(ctx, a, row->state) ||
                       profile__address_set_country(ctx, a, row->country) ||
                       profile__address_set_postal_code(ctx, a, row->postal_code));
        for (size_t k = 0; !full && row && k < row->n_images; k++) {
            Profile__Image *img = profile__hotel_add_images(ctx, h);
            full = !img || profile__image_set_url(ctx, img, row->images[k].url);
            if (img)
                img->default_ = row->images[k].is_default;
        }
        if (a)
            a->lat = row->lat, a->lon = row->lon;
    }
    if (full)
        mrpc_message_free(ctx, res ? &res->base : NULL);
    return full ? NULL : res;
}
