/* test_mrpc_profile.c - nested messages built with the typed builders cross a real service pair
 * and come back deep-equal, floats bit for bit.
 *
 * Two Phoenix services (mrpc_fixture.h) and profile_peer (tests/proto/hotel_profile.proto) on the
 * server node; this process calls it through the client node. GetProfiles' reply is built by the
 * server with the tutorial's builders and checked field by field against the hotel table and,
 * as a whole, against the same reply built here. Store sends a result built here with the
 * builders (hotels with addresses and images; -0.0, subnormal and NaN-payload coordinates) and
 * gets back the server's copy of it, made from its receive heap with the _from builders: it must
 * pack to the same bytes as a second, never-sent build from the same seed, and its floats must
 * be the same bits. Every loop is bounded; every process is stopped by PID (the fixture). */
#include "mrpc_fixture.h"
#include "phx_test.h"
#include "profile_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "profile", PROFILE_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* True when A and B pack to the same protobuf bytes (deep equality, floats bit for bit). */
static bool same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    bool same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

static bool same_float(float a, float b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* ---- GetProfiles ---------------------------------------------------------------------------- */

static void check_hotel(const Profile__Hotel *h, const struct hotel_row *row)
{
    CU_ASSERT_STRING_EQUAL(h->id, row->id);
    CU_ASSERT_STRING_EQUAL(h->name, row->name);
    CU_ASSERT_STRING_EQUAL(h->phone_number, row->phone);
    CU_ASSERT_STRING_EQUAL(h->description, row->description);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->address);
    CU_ASSERT_STRING_EQUAL(h->address->street_number, row->street_number);
    CU_ASSERT_STRING_EQUAL(h->address->street_name, row->street_name);
    CU_ASSERT_STRING_EQUAL(h->address->city, row->city);
    CU_ASSERT_STRING_EQUAL(h->address->state, row->state);
    CU_ASSERT_STRING_EQUAL(h->address->country, row->country);
    CU_ASSERT_STRING_EQUAL(h->address->postal_code, row->postal_code);
    CU_ASSERT_TRUE(same_float(h->address->lat, row->lat));
    CU_ASSERT_TRUE(same_float(h->address->lon, row->lon));
    CU_ASSERT_EQUAL_FATAL(h->n_images, row->n_images);
    for (size_t k = 0; k < row->n_images; k++) {
        CU_ASSERT_STRING_EQUAL(h->images[k]->url, row->images[k].url);
        CU_ASSERT_EQUAL(h->images[k]->default_, row->images[k].is_default);
    }
}

static Profile__GetProfilesRequest *profiles_request(void)
{
    static const char *const ids[] = { "3", "no-such-hotel", "1", "2", "1" };
    Profile__GetProfilesRequest *req = profile__get_profiles_request_new(up.ctx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        CU_ASSERT_EQUAL_FATAL(profile__get_profiles_request_add_hotel_ids(up.ctx, req, ids[i]), 0);
    CU_ASSERT_EQUAL_FATAL(profile__get_profiles_request_set_locale(up.ctx, req, "en"), 0);
    return req;
}

static void test_get_profiles(void)
{
    static const char *const want[] = { "3", "1", "2", "1" };
    need_nodes();
    Profile__GetProfilesRequest *req = profiles_request();
    Profile__GetProfilesResult *predicted = profile_build_reply(up.ctx, req);
    CU_ASSERT_PTR_NOT_NULL_FATAL(predicted);
    const Profile__GetProfilesResult *reply = NULL;
    mrpc_status_t st = profile__profile__get_profiles_call(up.conn, req, &reply, NULL);
    CU_ASSERT_EQUAL_FATAL(st.code, PHX_OK);
    CU_ASSERT_EQUAL(reply->n_hotels, 4);
    for (size_t i = 0; i < reply->n_hotels && i < 4; i++)
        check_hotel(reply->hotels[i], hotel_find(want[i]));
    CU_ASSERT_TRUE(same_packed(&reply->base, &predicted->base));
    CU_ASSERT_TRUE(signbit(reply->hotels[2]->address->lat));
    mrpc_release(up.ctx, &reply->base);
    mrpc_message_free(up.ctx, &predicted->base);
}

/* ---- Store ---------------------------------------------------------------------------------- */

static uint64_t rng;

static uint32_t rnd(void)      /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static float odd_float(void)
{
    static const uint32_t bits[] = { 0x80000000u /* -0.0 */, 0x00000001u /* subnormal */,
                                     0x7fc01234u /* NaN, payload */, 0xff800000u /* -inf */ };
    uint32_t b = rnd() % 3 ? rnd() : bits[rnd() % 4];
    float f;
    memcpy(&f, &b, sizeof(f));
    return f;
}

static void text(char *buf, size_t size, const char *what, size_t i)
{
    snprintf(buf, size, "%s-%zu-%u%s", what, i, rnd() % 1000, rnd() % 4 ? "" : " «ü»");
}

/* A result of N hotels from SEED, built with the builders; NULL when the heap ran out. */
static Profile__GetProfilesResult *random_result(uint64_t seed, size_t n)
{
    mrpc_ctx_t *ctx = up.ctx;
    Profile__GetProfilesResult *res = profile__get_profiles_result_new(ctx);
    bool full = !res;
    char buf[64];

    rng = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; !full && i < n; i++) {
        Profile__Hotel *h = profile__get_profiles_result_add_hotels(ctx, res);
        Profile__Address *a = h && rnd() % 5 ? profile__hotel_mutable_address(ctx, h) : NULL;
        text(buf, sizeof(buf), "hotel", i);
        full = !h || profile__hotel_set_id(ctx, h, buf) || profile__hotel_set_name(ctx, h, buf);
        if (!full && a) {
            a->lat = odd_float(), a->lon = odd_float();
            full = profile__address_set_city(ctx, a, buf);
        }
        for (size_t k = 0, m = rnd() % 6; !full && k < m; k++) {
            Profile__Image *img = profile__hotel_add_images(ctx, h);
            text(buf, sizeof(buf), "https://img/", k);
            full = !img || profile__image_set_url(ctx, img, buf);
            if (img)
                img->default_ = k == 0;
        }
    }
    if (full)
        mrpc_message_free(ctx, res ? &res->base : NULL);
    return full ? NULL : res;
}

static void store_round_trip(uint64_t seed, size_t n)
{
    Profile__GetProfilesResult *req = random_result(seed, n);
    Profile__GetProfilesResult *kept = random_result(seed, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kept);
    const Profile__GetProfilesResult *reply = NULL;
    mrpc_status_t st = profile__profile_cache__store_call(up.conn, req, &reply, NULL);
    CU_ASSERT_EQUAL_FATAL(st.code, PHX_OK);
    CU_ASSERT_EQUAL(reply->n_hotels, n);
    CU_ASSERT_TRUE(same_packed(&reply->base, &kept->base));
    for (size_t i = 0; i < reply->n_hotels && i < kept->n_hotels; i++) {
        const Profile__Address *a = reply->hotels[i]->address, *b = kept->hotels[i]->address;
        CU_ASSERT_EQUAL(a == NULL, b == NULL);
        if (a && b)
            CU_ASSERT_TRUE(same_float(a->lat, b->lat) && same_float(a->lon, b->lon));
    }
    mrpc_release(up.ctx, &reply->base);
    mrpc_message_free(up.ctx, &kept->base);
}

static void test_store_copies_from_receive_heap(void)
{
    static const size_t sizes[] = { 0, 1, 2, 7, 64, 1000 };
    need_nodes();
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        store_round_trip(i + 1, sizes[i]);
}

static const phx_test_case_t cases[] = {
    { "GetProfiles: the tutorial's nested reply arrives exactly", test_get_profiles },
    { "Store: copies from the receive heap come back bit-exact",
      test_store_copies_from_receive_heap },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("mrpc_profile", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
