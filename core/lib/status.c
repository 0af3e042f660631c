/* status.c - names of the status codes, and the one mapping between them and errno (see
 * status.h).
 *
 * Code below the service speaks errno; what crosses to an admin or an app is a status. Both
 * directions live here so a failure reads the same whichever side reports it. The two tables are
 * not inverses: several errnos share a status, and the app side keeps the errnos its callers
 * have always seen (PHX_RESOURCE_EXHAUSTED is EBUSY there: "try again later"). */
#include "phoenix/status.h"

#include <errno.h>

static const char *const status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
};

const char *phx_status_name(int status)
{
    if (status < 0 || status >= (int)(sizeof(status_names) / sizeof(status_names[0])))
        return "UNKNOWN";
    return status_names[status];
}

phx_status_t phx_status_of_errno(int rc)
{
    switch (rc < 0 ? -rc : rc) {
    case 0:
        return PHX_OK;
    case EINVAL:
        return PHX_INVALID_ARGUMENT;
    case ENOENT:
        return PHX_NOT_FOUND;
    case EEXIST:
        return PHX_ALREADY_EXISTS;
    case EPERM:
    case EACCES:
        return PHX_PERMISSION_DENIED;
    case ENOMEM:
    case ENOSPC:
    case ENOBUFS:
    case E2BIG:
    case EMFILE:
        return PHX_RESOURCE_EXHAUSTED;
    case EBUSY:
    case EAGAIN:
        return PHX_UNAVAILABLE;
    case ETIMEDOUT:
        return PHX_DEADLINE_EXCEEDED;
    case ECANCELED:
        return PHX_CANCELLED;
    case ENOSYS:
    case EOPNOTSUPP:
        return PHX_UNIMPLEMENTED;
    default:
        return PHX_FAILED_PRECONDITION;
    }
}

int phx_errno_of_status(int status)
{
    switch (status) {
    case PHX_OK:                 return 0;
    case PHX_NOT_FOUND:          return ENOENT;
    case PHX_PERMISSION_DENIED:  return EACCES;
    case PHX_RESOURCE_EXHAUSTED: return EBUSY;
    case PHX_INVALID_ARGUMENT:   return EINVAL;
    case PHX_UNAVAILABLE:        return EAGAIN;
    default:                     return EPROTO;
    }
}
