/* test_clock.c - the shared clock and timeout helpers (phoenix/clock.h, minmax.h) and the
 * errno <-> status mapping (phoenix/status.h).
 *
 *   clock      phx_now_ns never goes back and follows real time within a generous bound
 *   timeouts   -1 loses to any timeout, the sooner of two wins; the stall back-off doubles from
 *              PHX_STALL_MIN_MS, stops at PHX_STALL_MAX_MS and restarts after a reset
 *   status     errno (either sign) to status and back, the fallbacks of both directions */
#include "phoenix/clock.h"
#include "phoenix/minmax.h"
#include "phoenix/status.h"
#include "phx_test.h"

#include <errno.h>
#include <unistd.h>

static void test_clock_moves_forward(void)
{
    uint64_t a = phx_now_ns();

    usleep(2000);
    uint64_t b = phx_now_ns();
    CU_ASSERT_TRUE(b >= a + 2000000);
    CU_ASSERT_TRUE(b - a < 10ull * 1000000000ull);
}

static void test_timeouts(void)
{
    CU_ASSERT_EQUAL(phx_timeout_min(-1, -1), -1);
    CU_ASSERT_EQUAL(phx_timeout_min(-1, 5), 5);
    CU_ASSERT_EQUAL(phx_timeout_min(7, -1), 7);
    CU_ASSERT_EQUAL(phx_timeout_min(7, 5), 5);
    CU_ASSERT_EQUAL(phx_timeout_min(0, 5), 0);
    CU_ASSERT_EQUAL(phx_min_u32(3, 9), 3u);
    CU_ASSERT_EQUAL(phx_min_u32(UINT32_MAX, 9), 9u);
}

static void test_stall_backoff(void)
{
    unsigned next = PHX_STALL_MIN_MS;
    int last = 0;

    for (int i = 0; i < 20; i++) {
        int ms = phx_stall_backoff(&next);
        CU_ASSERT_TRUE(ms >= (int)PHX_STALL_MIN_MS && ms <= (int)PHX_STALL_MAX_MS);
        CU_ASSERT_TRUE(ms == 2 * last || (last == 0 && ms == (int)PHX_STALL_MIN_MS) ||
                       ms == (int)PHX_STALL_MAX_MS);
        last = ms;
    }
    CU_ASSERT_EQUAL(last, (int)PHX_STALL_MAX_MS);
    next = PHX_STALL_MIN_MS;                    /* the stall ended */
    CU_ASSERT_EQUAL(phx_stall_backoff(&next), (int)PHX_STALL_MIN_MS);
    CU_ASSERT_EQUAL(phx_stall_backoff(&next), 2 * (int)PHX_STALL_MIN_MS);
}

static void test_status_of_errno(void)
{
    CU_ASSERT_EQUAL(phx_status_of_errno(0), PHX_OK);
    CU_ASSERT_EQUAL(phx_status_of_errno(-EINVAL), PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(phx_status_of_errno(EINVAL), PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(phx_status_of_errno(-ENOENT), PHX_NOT_FOUND);
    CU_ASSERT_EQUAL(phx_status_of_errno(-ENOMEM), PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_EQUAL(phx_status_of_errno(-E2BIG), PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_EQUAL(phx_status_of_errno(-ENOSPC), PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_EQUAL(phx_status_of_errno(-EBUSY), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(phx_status_of_errno(-EAGAIN), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(phx_status_of_errno(-EACCES), PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(phx_status_of_errno(-ETIMEDOUT), PHX_DEADLINE_EXCEEDED);
    CU_ASSERT_EQUAL(phx_status_of_errno(-EPIPE), PHX_FAILED_PRECONDITION);
}

static void test_errno_of_status(void)
{
    CU_ASSERT_EQUAL(phx_errno_of_status(PHX_OK), 0);
    CU_ASSERT_EQUAL(phx_errno_of_status(PHX_NOT_FOUND), ENOENT);
    CU_ASSERT_EQUAL(phx_errno_of_status(PHX_RESOURCE_EXHAUSTED), EBUSY);
    CU_ASSERT_EQUAL(phx_errno_of_status(PHX_INVALID_ARGUMENT), EINVAL);
    CU_ASSERT_EQUAL(phx_errno_of_status(PHX_DATA_LOSS), EPROTO);
    CU_ASSERT_EQUAL(phx_errno_of_status(999), EPROTO);
    /* the statuses an app sees map back to the errno they came from */
    CU_ASSERT_EQUAL(phx_errno_of_status(phx_status_of_errno(-ENOENT)), ENOENT);
    CU_ASSERT_EQUAL(phx_errno_of_status(phx_status_of_errno(-EINVAL)), EINVAL);
}

static const phx_test_case_t cases[] = {
    { "the clock moves forward with real time", test_clock_moves_forward },
    { "the sooner timeout wins, -1 is none", test_timeouts },
    { "the stall back-off doubles, stops and restarts", test_stall_backoff },
    { "errno to status", test_status_of_errno },
    { "status to errno", test_errno_of_status },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("clock", cases, argc, argv);
}
