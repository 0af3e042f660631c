/* minmax.h - the smaller of two counts, for batch sizes and room left in rings and channels.
 *
 * One inline helper instead of a private min_u/min_u32 per file; the sooner of two poll()
 * timeouts, where -1 means "none", is phx_timeout_min() in clock.h. */
#ifndef PHOENIX_MINMAX_H
#define PHOENIX_MINMAX_H

#include <stdint.h>

static inline uint32_t phx_min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

#endif /* PHOENIX_MINMAX_H */
