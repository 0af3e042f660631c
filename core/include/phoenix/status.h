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

/* The status a failure reported as an errno stands for; RC may be the negative return value of a
 * call or a positive errno. 0 is PHX_OK; an errno with no closer meaning is
 * PHX_FAILED_PRECONDITION (the request does not fit the state it met). */
phx_status_t phx_status_of_errno(int rc);
/* The positive errno an app-side call returns for a status it received; EPROTO for a status with
 * no closer errno, 0 for PHX_OK. */
int phx_errno_of_status(int status);

#endif /* PHOENIX_STATUS_H */
