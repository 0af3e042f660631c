/* ucx_addr.c - parses and resolves "host:port" (see ucx_addr.h).
 *
 * The port is whatever follows the last ':' (IPv6 hosts must be bracketed so that their colons
 * are not mistaken for it) and must be all digits. getaddrinfo() gets AI_NUMERICSERV, so no
 * services database is read; the first address it returns is the one used. */
#include "ucx_addr.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct host_port {
    char host[PHX_UCX_ADDR_MAX + 1];
    char port[8];
};

/* Splits TEXT into host and port; an empty host stays empty. 0 or -EINVAL. */
static int split(const char *text, struct host_port *hp, char *err, size_t errlen)
{
    size_t n = strnlen(text, PHX_UCX_ADDR_MAX + 1);
    const char *colon = n <= PHX_UCX_ADDR_MAX ? memrchr(text, ':', n) : NULL;
    const char *host = text, *host_end = colon;

    if (!colon) {
        snprintf(err, errlen, "address '%.64s' is not host:port", text);
        return -EINVAL;
    }
    if (host[0] == '[') {                      /* [v6]:port */
        if (host_end == host || host_end[-1] != ']') {
            snprintf(err, errlen, "address '%.64s': unbalanced brackets", text);
            return -EINVAL;
        }
        host++;
        host_end--;
    }
    size_t port_len = n - (size_t)(colon + 1 - text);
    if (port_len == 0 || port_len >= sizeof(hp->port) ||
        strspn(colon + 1, "0123456789") != port_len || atol(colon + 1) > 65535) {
        snprintf(err, errlen, "address '%.64s': port must be a number 0..65535", text);
        return -EINVAL;
    }
    memcpy(hp->host, host, (size_t)(host_end - host));
    hp->host[host_end - host] = '\0';
    memcpy(hp->port, colon + 1, port_len + 1);
    return 0;
}

static bool is_wildcard(const char *host)
{
    return host[0] == '\0' || strcmp(host, "*") == 0;
}

int phx_ucx_addr_resolve(const char *text, bool passive, struct sockaddr_storage *ss,
                         socklen_t *len, char *err, size_t errlen)
{
    struct host_port hp;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV}, *res;

    if (!text || split(text, &hp, err, errlen) < 0) {
        if (!text)
            snprintf(err, errlen, "no address given");
        return -EINVAL;
    }
    bool any = passive && is_wildcard(hp.host);
    if (any) {
        hints.ai_flags |= AI_PASSIVE;
        hints.ai_family = AF_INET;      /* "*:port": 0.0.0.0; "[::]:port" asks for IPv6 */
    }
    else if (is_wildcard(hp.host)) {
        snprintf(err, errlen, "address '%.64s': a connection needs a host", text);
        return -EINVAL;
    }
    int rc = getaddrinfo(any ? NULL : hp.host, hp.port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "address '%.64s': %s", text, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

uint16_t phx_ucx_addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}
