/* status.h - the status codes every completion, admin reply and RPC carries.
 *
 * The numbering is gRPC's, so users who know gRPC read them at a glance and so an RPC status can
 * cross the wire as a plain integer. */
#ifndef PHOENIX_STATUS_H
#define PHOENIX_STATUS_H

typedef enum phx_status {
    PHX_OK                  = 0,
    PHX_CANCELLED           = 1,
    PHX_UNKNOWN             = 2,
    PHX_INVALID_ARGUMENT    = 3,
    PHX_DEADLINE_EXCEEDED   = 4,
    PHX_NOT_FOUND           = 5,
    PHX_ALREADY_EXISTS      = 6,
    PHX_PERMISSION_DENIED   = 7,
    PHX_RESOURCE_EXHAUSTED  = 8,
    PHX_FAILED_PRECONDITION = 9,
    PHX_ABORTED             = 10,
    PHX_OUT_OF_RANGE        = 11,
    PHX_UNIMPLEMENTED       = 12,
    PHX_INTERNAL            = 13,
    PHX_UNAVAILABLE         = 14,
    PHX_DATA_LOSS           = 15,
} phx_status_t;

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for numbers outside the enum. */
const char *phx_status_name(int status);

#endif /* PHOENIX_STATUS_H */
