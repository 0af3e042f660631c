/* ucx_addr_check.c - walks a packed UCX 1.13 worker address, bounds-checked (see the header).
 *
 * What ucp_worker_query(UCP_WORKER_ATTR_FIELD_ADDRESS) packs in UCX 1.13 (src/ucp/wireup/
 * address.c, non-unified mode, the worker's default pack flags), and what is accepted here:
 *
 *   header     version 1 (the low 4 bits of byte 0): 0 = "v1", 1 = "v2"; anything else is
 *              refused (UCX asserts on it). v1: the flags are byte 0's high 4 bits; v2: byte 0's
 *              high 4 bits must be 0 and byte 1 holds the flags. Flags: DEBUG_INFO 1, WORKER_UUID
 *              2 (required: our workers always pack it), CLIENT_ID 4; AM_ONLY 8 and unknown bits
 *              are refused.
 *   uuid       8 bytes; then the client id (8 bytes) if CLIENT_ID; then, if DEBUG_INFO, the
 *              worker name: a length byte and that many bytes.
 *   devices    at least one (the empty list, a single 0xff, is refused: nothing to reach), at
 *              most PHX_UCX_WADDR_MAX_TLS, each:
 *                md byte     bit 7 EMPTY (refused: a device without transports); v1: md index in
 *                            bits 0-4 (bits 5, 6 are md flags); v2: bits 0-6, and 0x7f means the
 *                            index is the next byte. Index below 32.
 *                len byte    bit 7 LAST device, bit 6 NUM_PATHS, bit 5 SYS_DEVICE; bits 0-4 the
 *                            device address length (v2: 0x1f means the next byte is the length)
 *                paths       one byte if NUM_PATHS, at least 2 (UCX packs it only then)
 *                sys_dev     one byte if SYS_DEVICE
 *                address     the device address
 *                transports  at least one, until one has LAST:
 *                  csum      u16, the transport name's CRC-16 (ucs_crc16_string)
 *                  attrs     v1: 16 bytes (overhead, bandwidth, latency as floats: finite, the
 *                            bandwidth positive, the others not negative; u32 priority and flags);
 *                            v2: 8 bytes (fp8 overhead, bandwidth (not 0), latency; priority;
 *                            u16 segment size; u16 flags)
 *                  len byte  bit 7 LAST transport, bit 6 HAS_EP_ADDR (refused: a worker address
 *                            has no endpoint addresses); bits 0-5 the interface address length
 *                            (v2: 0x3f means the next byte is the length)
 *                  address   the interface address
 *   and the last device must end exactly at the given length.
 *
 * The device and interface addresses are the transports' own, and UCX 1.13's transports read
 * them without looking at their length (a tcp record with an empty device address makes
 * ucp_ep_create() dereference NULL). So the records of the transports this UCX has (known by
 * the CRC-16 of their name, as UCX computes it; the unit test checks them against libucs) must
 * have the shape UCX 1.13 packs:
 *   tcp    (19cf)  device: flags (0, or 1 = loopback), address family (AF_INET or AF_INET6),
 *                  then 16 bytes (loopback: the host and network namespace ids) or the IP
 *                  address (4 or 16 bytes); interface: the port, 2 bytes
 *   self   (7563)  device: none; interface: 8 bytes
 *   posix  (d3a7), sysv (538d)  device: 8 bytes (the host id); interface: 8 bytes
 *   cma    (8b47)  device: 8 bytes; interface: 4 bytes (a pid)
 *   rc_verbs (8a27), rc_mlx5 (d47a), dc_mlx5 (397e), ud_verbs (d131), ud_mlx5 (0fb3)
 *          device: at least 3 bytes (flags and a LID or GID); interface: not empty. Only that:
 *          their exact shapes depend on the fabric (IB or RoCE, subnet prefix, GUID) and this
 *          machine has no HCA to confirm them against.
 * Other records (xpmem 83dd, knem 1377, ...) are only bounded.
 *
 * phx_ucx_waddr_reachable() then copies what UCX may see: tcp and InfiniBand/RoCE records; and
 * only when the peer is on this host, the same-host ones (tcp over loopback or to a loopback or
 * unspecified IP address, self, posix, sysv, cma), whose contents name segment ids, pids and local ports. Other records never reach UCX.
 * The InfiniBand ones must, or services would never use RDMA between them: UCX reads their
 * contents only on a node that has the same transport, so on a node without an HCA they are
 * inert, and on one with an HCA their contents are checked only as far as said above (a known
 * limit, docs/transport.md). A device left without records goes too, and the LAST flags of
 * what remains are set again. */
#include "ucx_addr_check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define V1 0
#define V2 1
#define HDR_DEBUG_INFO  0x01u
#define HDR_WORKER_UUID 0x02u
#define HDR_CLIENT_ID   0x04u
#define FLAG_LAST       0x80u
#define DEV_NUM_PATHS   0x40u
#define DEV_SYS_DEVICE  0x20u
#define MD_EMPTY_DEV    0x80u
#define TL_HAS_EP_ADDR  0x40u
#define MD_INDEX_MAX    32u
#define ATTR_V1_LEN     16u
#define ATTR_V2_LEN     8u

struct tl_rec {
    uint16_t csum;
    bool     loopback;      /* tcp to a loopback device, or to an address only this host has */
    uint32_t ipv4;          /* tcp to an IPv4 address other than those: it (network order) */
    size_t   start, end;    /* csum .. end of the interface address */
    size_t   flag_at;       /* the byte holding LAST */
};

struct dev_rec {
    size_t   start, end;    /* md byte .. end of the device address */
    size_t   flag_at;
    unsigned first_tl, n_tl;
};

struct walk {
    const uint8_t *a;
    size_t         len, off;
    size_t         at;          /* where the last field read began (for WHY) */
    unsigned       version;
    size_t         hdr_end;
    unsigned       n_dev, n_tl;
    struct dev_rec dev[PHX_UCX_WADDR_MAX_TLS];
    struct tl_rec  tl[PHX_UCX_WADDR_MAX_TLS];
    char          *why;
    size_t         whylen;
};

static bool fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;

    if (w->whylen) {
        int n = snprintf(w->why, w->whylen, "worker address, byte %zu: ", w->at);
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < w->whylen)
            vsnprintf(w->why + n, w->whylen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The next N bytes, or NULL (and WHY) when the address ends first. */
static const uint8_t *take(struct walk *w, size_t n, const char *what)
{
    w->at = w->off;
    if (w->len - w->off < n) {
        fail(w, "ends inside the %s", what);
        return NULL;
    }
    const uint8_t *p = w->a + w->off;
    w->off += n;
    return p;
}

static bool take_byte(struct walk *w, const char *what, uint8_t *v)
{
    const uint8_t *p = take(w, 1, what);
    if (p)
        *v = *p;
    return p != NULL;
}

/* A value in the low bits MASK of a byte; in v2, MASK itself means the next byte holds it. */
static bool take_extended(struct walk *w, uint8_t first, uint8_t mask, const char *what,
                          unsigned *v)
{
    uint8_t b = first & mask;

    if (w->version == V2 && b == mask && !take_byte(w, what, &b))
        return false;
    *v = b;
    return true;
}

static bool header(struct walk *w)
{
    uint8_t b0, flags, name_len;

    if (!take_byte(w, "header", &b0))
        return false;
    w->version = b0 & 0x0fu;
    if (w->version == V1) {
        flags = b0 >> 4;
    } else if (w->version == V2) {
        if (b0 >> 4)
            return fail(w, "unknown bits 0x%02x in the version byte", b0);
        if (!take_byte(w, "header", &flags))
            return false;
    } else {
        return fail(w, "address version %u (UCX 1.13 knows 0 and 1)", w->version);
    }
    if (flags & ~(HDR_DEBUG_INFO | HDR_WORKER_UUID | HDR_CLIENT_ID))
        return fail(w, "header flags 0x%02x are not a worker's", flags);
    if (!(flags & HDR_WORKER_UUID))
        return fail(w, "no worker uuid");
    if (!take(w, 8, "worker uuid"))
        return false;
    if ((flags & HDR_CLIENT_ID) && !take(w, 8, "client id"))
        return false;
    if ((flags & HDR_DEBUG_INFO) &&
        (!take_byte(w, "worker name", &name_len) || !take(w, name_len, "worker name")))
        return false;
    w->hdr_end = w->off;
    return true;
}

static float f32_at(const uint8_t *p)
{
    float f;
    memcpy(&f, p, sizeof(f));
    return f;
}

/* The interface attributes: UCX refuses a bandwidth that is not positive itself, but computes
 * with the rest; NaN and infinities never come from a real interface. */
static bool attrs(struct walk *w)
{
    const uint8_t *p = take(w, w->version == V1 ? ATTR_V1_LEN : ATTR_V2_LEN,
                            "transport attributes");
    if (!p)
        return false;
    if (w->version == V2)
        return p[1] ? true : fail(w, "a transport with no bandwidth");
    float ovh = f32_at(p), bw = f32_at(p + 4), lat = f32_at(p + 8);
    if (!isfinite(ovh) || !isfinite(bw) || !isfinite(lat) || ovh < 0 || lat < 0 || !(bw > 0))
        return fail(w, "transport attributes out of range");
    return true;
}

/* Whether the IP address A of FAMILY (2 AF_INET, 10 AF_INET6) reaches only this host's own
 * services: loopback or unspecified, IPv4-mapped ones too. A peer on another host naming one
 * would make UCX connect to a port of ours. */
static bool host_only_ip(uint8_t family, const uint8_t *a)
{
    static const uint8_t zero[16], mapped[12] = { [10] = 0xff, [11] = 0xff };

    if (family == 2)
        return a[0] == 127 || memcmp(a, zero, 4) == 0;
    if (memcmp(a, zero, 15) == 0)
        return a[15] <= 1;                      /* :: and ::1 */
    return memcmp(a, mapped, 12) == 0 && (a[12] == 127 || memcmp(a + 12, zero, 4) == 0);
}

/* Whether the device address DEV (DEV_LEN bytes) and the interface address IFACE (IFACE_LEN)
 * have the shape UCX 1.13 packs for transport KIND; T->loopback is set for tcp. */
static bool shaped(struct walk *w, enum phx_ucx_tl kind, const uint8_t *dev, unsigned dev_len,
                   unsigned iface_len, struct tl_rec *t)
{
    unsigned want_dev, want_iface;

    switch (kind) {
    case PHX_UCX_TL_TCP:
        if (dev_len < 2 || dev[0] > 1 || (dev[1] != 2 && dev[1] != 10))
            return fail(w, "a tcp device address with flags %u, family %u",
                        dev_len ? dev[0] : 0, dev_len > 1 ? dev[1] : 0);
        want_dev = 2 + (dev[0] == 1 || dev[1] == 10 ? 16 : 4);
        t->loopback = dev[0] == 1 || (dev_len == want_dev && host_only_ip(dev[1], dev + 2));
        if (!t->loopback && dev[1] == 2 && dev_len == want_dev)
            memcpy(&t->ipv4, dev + 2, 4);
        want_iface = 2;
        break;
    case PHX_UCX_TL_SELF:
        want_dev = 0, want_iface = 8;
        break;
    case PHX_UCX_TL_POSIX:
    case PHX_UCX_TL_SYSV:
        want_dev = 8, want_iface = 8;
        break;
    case PHX_UCX_TL_CMA:
        want_dev = 8, want_iface = 4;
        break;
    case PHX_UCX_TL_RDMA:          /* a flags byte and a LID or GID at least; iface: a QP */
        if (dev_len < 3 || iface_len == 0)
            return fail(w, "an InfiniBand record (%04x) with a %u-byte device and a %u-byte "
                        "interface address", t->csum, dev_len, iface_len);
        return true;
    default:
        return true;
    }
    if (dev_len != want_dev || iface_len != want_iface)
        return fail(w, "a transport record (%04x) with a %u-byte device and a %u-byte interface "
                    "address (UCX packs %u and %u)", t->csum, dev_len, iface_len, want_dev,
                    want_iface);
    return true;
}

static bool transport(struct walk *w, const uint8_t *dev, unsigned dev_len, bool *last)
{
    struct tl_rec *t = &w->tl[w->n_tl];
    const uint8_t *csum;
    uint8_t b;
    unsigned n;

    if (w->n_tl == PHX_UCX_WADDR_MAX_TLS)
        return fail(w, "more than %d transports", PHX_UCX_WADDR_MAX_TLS);
    t->start = w->off;
    if (!(csum = take(w, 2, "transport name")) || !attrs(w))
        return false;
    t->csum = (uint16_t)(csum[0] | csum[1] << 8);
    t->loopback = false;
    t->ipv4 = 0;
    t->flag_at = w->off;
    if (!take_byte(w, "interface address length", &b))
        return false;
    if (b & TL_HAS_EP_ADDR)
        return fail(w, "an endpoint address in a worker address");
    if (!take_extended(w, b, 0x3fu, "interface address length", &n) ||
        !take(w, n, "interface address") ||
        !shaped(w, phx_ucx_waddr_tl_of(t->csum), dev, dev_len, n, t))
        return false;
    t->end = w->off;
    *last = b & FLAG_LAST;
    w->n_tl++;
    return true;
}

static bool device(struct walk *w, bool *last)
{
    struct dev_rec *d = &w->dev[w->n_dev];
    uint8_t md, b, v;
    unsigned md_index, n;

    d->start = w->off;
    if (!take_byte(w, "device", &md))
        return false;
    if (md == 0xffu)
        return fail(w, "an address without transports");
    if (md & MD_EMPTY_DEV)
        return fail(w, "a device without transports");
    if (!take_extended(w, md, w->version == V1 ? 0x1fu : 0x7fu, "md index", &md_index))
        return false;
    if (md_index >= MD_INDEX_MAX)
        return fail(w, "md index %u (at most %u)", md_index, MD_INDEX_MAX - 1);
    d->flag_at = w->off;
    if (!take_byte(w, "device address length", &b) ||
        !take_extended(w, b, 0x1fu, "device address length", &n))
        return false;
    if ((b & DEV_NUM_PATHS) && !take_byte(w, "device paths", &v))
        return false;
    if ((b & DEV_NUM_PATHS) && v < 2)
        return fail(w, "%u paths", v);
    if ((b & DEV_SYS_DEVICE) && !take_byte(w, "system device", &v))
        return false;
    const uint8_t *dev = take(w, n, "device address");
    if (!dev)
        return false;
    d->end = w->off;
    d->first_tl = w->n_tl;
    for (bool last_tl = false; !last_tl;)
        if (!transport(w, dev, n, &last_tl))
            return false;
    d->n_tl = w->n_tl - d->first_tl;
    *last = b & FLAG_LAST;
    w->n_dev++;
    return true;
}

static bool walk(struct walk *w, const uint8_t *a, size_t len, char *why, size_t whylen)
{
    *w = (struct walk){.a = a, .len = len, .why = why, .whylen = whylen};
    if (!header(w))
        return false;
    for (bool last = false; !last;) {
        if (w->n_dev == PHX_UCX_WADDR_MAX_TLS)
            return fail(w, "more than %d devices", PHX_UCX_WADDR_MAX_TLS);
        if (!device(w, &last))
            return false;
    }
    w->at = w->off;
    if (w->off != len)
        return fail(w, "%zu bytes after the last device", len - w->off);
    return true;
}

int phx_ucx_waddr_check(const uint8_t *a, size_t len, char *why, size_t whylen)
{
    struct walk w;          /* ~5 KiB of stack */

    return walk(&w, a, len, why, whylen) ? 0 : -EINVAL;
}

enum phx_ucx_tl phx_ucx_waddr_tl_of(uint16_t csum)
{
    switch (csum) {
    case 0x19cf: return PHX_UCX_TL_TCP;
    case 0x7563: return PHX_UCX_TL_SELF;
    case 0xd3a7: return PHX_UCX_TL_POSIX;
    case 0x538d: return PHX_UCX_TL_SYSV;
    case 0x8b47: return PHX_UCX_TL_CMA;
    case 0x83dd: return PHX_UCX_TL_XPMEM;
    case 0x1377: return PHX_UCX_TL_KNEM;
    case 0x8a27: /* rc_verbs */
    case 0xd47a: /* rc_mlx5 */
    case 0x397e: /* dc_mlx5 */
    case 0xd131: /* ud_verbs */
    case 0x0fb3: /* ud_mlx5 */
                 return PHX_UCX_TL_RDMA;
    default:     return PHX_UCX_TL_OTHER;
    }
}

/* Whether record T may reach UCX for a peer that is on this host (LOCAL) or not. */
static bool keep(const struct tl_rec *t, bool local)
{
    switch (phx_ucx_waddr_tl_of(t->csum)) {
    case PHX_UCX_TL_TCP:
        return local || !t->loopback;
    case PHX_UCX_TL_SELF:
    case PHX_UCX_TL_POSIX:
    case PHX_UCX_TL_SYSV:
    case PHX_UCX_TL_CMA:
        return local;
    case PHX_UCX_TL_RDMA:
        return true;
    default:
        return false;
    }
}

/* Appends the N bytes at P to OUT at *AT; false when OUTLEN is too small. */
static bool put(uint8_t *out, size_t outlen, size_t *at, const uint8_t *p, size_t n)
{
    if (outlen - *at < n)
        return false;
    memcpy(out + *at, p, n);
    *at += n;
    return true;
}

/* Copies device D of W with its transports keep() allows into OUT; *LAST_FLAG gets where
 * its LAST byte went. The number of transports kept, or -1 when OUT is too small. */
static int copy_device(const struct walk *w, const struct dev_rec *d, bool local, uint8_t *out,
                       size_t outlen, size_t *at, size_t *last_flag)
{
    size_t start = *at, tl_flag = 0;
    int kept = 0;

    if (!put(out, outlen, at, w->a + d->start, d->end - d->start))
        return -1;
    *last_flag = start + (d->flag_at - d->start);
    for (unsigned i = d->first_tl; i < d->first_tl + d->n_tl; i++) {
        const struct tl_rec *t = &w->tl[i];
        if (!keep(t, local))
            continue;
        size_t t_at = *at;
        if (!put(out, outlen, at, w->a + t->start, t->end - t->start))
            return -1;
        tl_flag = t_at + (t->flag_at - t->start);
        out[tl_flag] &= (uint8_t)~FLAG_LAST;
        kept++;
    }
    if (!kept)
        *at = start;            /* the device goes too */
    else
        out[tl_flag] |= FLAG_LAST;
    return kept;
}

int phx_ucx_waddr_tcp(const uint8_t *a, size_t len, struct phx_ucx_waddr_tcp *out,
                      unsigned max)
{
    struct walk w;
    unsigned n = 0;

    if (!walk(&w, a, len, NULL, 0))
        return -EINVAL;
    for (unsigned i = 0; i < w.n_tl && n < max; i++)
        if (phx_ucx_waddr_tl_of(w.tl[i].csum) == PHX_UCX_TL_TCP)   /* shaped(): 2 bytes */
            out[n++] = (struct phx_ucx_waddr_tcp){
                .port = (uint16_t)(a[w.tl[i].end - 2] << 8 | a[w.tl[i].end - 1]),
                .ipv4 = w.tl[i].ipv4};
    return (int)n;
}

size_t phx_ucx_waddr_reachable(const uint8_t *a, size_t len, bool local, uint8_t *out,
                               size_t outlen, char *why, size_t whylen)
{
    struct walk w;
    size_t at = 0, last_flag = SIZE_MAX;

    if (!walk(&w, a, len, why, whylen))
        return 0;
    if (!put(out, outlen, &at, a, w.hdr_end))
        goto too_long;
    for (unsigned i = 0; i < w.n_dev; i++) {
        size_t flag;
        int kept = copy_device(&w, &w.dev[i], local, out, outlen, &at, &flag);
        if (kept < 0)
            goto too_long;
        if (kept) {
            out[flag] &= (uint8_t)~FLAG_LAST;
            last_flag = flag;
        }
    }
    if (last_flag == SIZE_MAX) {
        snprintf(why, whylen, "worker address: no transport we could use (%s)",
                 local ? "none known" : "only same-host ones, from a peer on another host");
        return 0;
    }
    out[last_flag] |= FLAG_LAST;
    return at;

too_long:
    snprintf(why, whylen, "worker address: %zu bytes, more than the %zu there is room for", len,
             outlen);
    return 0;
}
