/* fuzz_waddr.c - libFuzzer target "waddr": the check of a peer's UCX worker address
 * (ucx_addr_check.c), which every address in a WELCOME or AUTH frame meets before UCX does.
 *
 * The input is the address. Beyond "no crash, no read outside the buffer" (ASan):
 *   - a refusal says why; an accepted address is refused one byte shorter and with one more;
 *   - the copies UCX gets (for a peer on this host and for one elsewhere) are refused with a
 *     reason, or valid again, no longer, and hold nothing a copy drops (copying again changes
 *     nothing);
 *   - the tcp records read out of it (phx_ucx_waddr_tcp, what the peers-only guard admits) agree
 *     with the check: -EINVAL exactly when it is refused, never more than asked for, and the
 *     same first records whatever the room.
 * An input counts as accepted (fuzz.h) when the check passed. Seeds: the worker addresses UCX
 * 1.13 made here (tcp; tcp,sm,self in both address versions, with the debug name; posix; sysv;
 * cma). */
#include "fuzz.h"
#include "ucx_addr_check.h"

#include <string.h>

#define ROOM 4096

/* The copy of DATA for a peer here (LOCAL) or elsewhere: refused with a reason, or valid
 * again, no longer, and a fixed point (copying it again changes nothing). */
static void check_copy(const uint8_t *data, size_t size, bool local)
{
    static uint8_t out[ROOM], again[ROOM];
    char why[256] = "";
    size_t n = phx_ucx_waddr_reachable(data, size, local, out, sizeof(out), why, sizeof(why));

    if (!n) {
        if (!why[0])
            phx_fuzz_fail("a copy was refused without a reason");
        return;
    }
    if (n > size || phx_ucx_waddr_check(out, n, why, sizeof(why)) != 0)
        phx_fuzz_fail("a copy (%zu of %zu bytes) is invalid: %s", n, size, why);
    size_t m = phx_ucx_waddr_reachable(out, n, local, again, sizeof(again), why, sizeof(why));
    if (m != n || memcmp(again, out, n) != 0)
        phx_fuzz_fail("a copy still holds records a copy drops");
}

/* The tcp records of DATA, read with room for 1 and for PHX_UCX_WADDR_MAX_TLS: -EINVAL exactly
 * when VALID is false, at most the room, and the first record the same both times. */
static void check_tcp(const uint8_t *data, size_t size, bool valid)
{
    struct phx_ucx_waddr_tcp one[1], all[PHX_UCX_WADDR_MAX_TLS];
    int n1 = phx_ucx_waddr_tcp(data, size, one, 1);
    int n = phx_ucx_waddr_tcp(data, size, all, PHX_UCX_WADDR_MAX_TLS);

    if ((n < 0) != !valid || (n1 < 0) != !valid)
        phx_fuzz_fail("the tcp records' reader and the check disagree (%d, valid %d)", n, valid);
    if (n1 > 1 || n > PHX_UCX_WADDR_MAX_TLS || (n > 0) != (n1 > 0))
        phx_fuzz_fail("the tcp records' reader gave %d with room 1, %d with room %d", n1, n,
                      PHX_UCX_WADDR_MAX_TLS);
    if (n > 0 && (one[0].port != all[0].port || one[0].ipv4 != all[0].ipv4))
        phx_fuzz_fail("the first tcp record differs with the room");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t longer[ROOM + 1];
    char why[256] = "";

    if (size > ROOM)
        return 0;
    if (phx_ucx_waddr_check(data, size, why, sizeof(why)) != 0) {
        if (!why[0])
            phx_fuzz_fail("a refusal without a reason");
        check_tcp(data, size, false);
        return 0;
    }
    check_tcp(data, size, true);
    phx_fuzz_accepted++;
    if (size && phx_ucx_waddr_check(data, size - 1, why, sizeof(why)) == 0)
        phx_fuzz_fail("an accepted address one byte shorter was accepted too");
    memcpy(longer, data, size);
    longer[size] = 0;
    if (phx_ucx_waddr_check(longer, size + 1, why, sizeof(why)) == 0)
        phx_fuzz_fail("an accepted address with a byte more was accepted too");
    check_copy(data, size, true);
    check_copy(data, size, false);
    return 0;
}
