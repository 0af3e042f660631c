/* jobid.c - an app's Slurm job from its cgroup, else from its environment (see jobid.h).
 *
 * Both files are read with bounded sizes (a cgroup file of a few lines, an environment of at most
 * JOB_ENVIRON_MAX bytes: beyond that the variable is not looked for), and a job id must be all
 * digits, so nothing an app writes there can reach a log line or a reply unchecked. */
#include "jobid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOB_CGROUP_MAX  (16 * 1024)
#define JOB_ENVIRON_MAX (256 * 1024)
#define JOB_ENV_NAME    "SLURM_JOB_ID="

const char *phx_job_proc_root(void)
{
    const char *root = getenv("PHOENIX_PROC_ROOT");

    return root && *root ? root : "/proc";
}

/* Copies the N characters at S to ID if they are 1..PHX_JOB_ID_MAX-1 digits. */
static bool job_digits(const char *s, size_t n, char id[PHX_JOB_ID_MAX])
{
    if (n == 0 || n >= PHX_JOB_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    memcpy(id, s, n);
    id[n] = '\0';
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* One cgroup path (P, N bytes): walks its components; a `job_<digits>` counts once a Slurm
 * component was seen above it and no user-owned one. */
static bool job_from_path(const char *p, size_t n, char id[PHX_JOB_ID_MAX])
{
    bool slurm = false, user = false;
    size_t i = 0;

    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t start = i;
        while (i < n && p[i] != '/')
            i++;
        const char *c = p + start;
        size_t len = i - start;
        if (len == 0)
            break;
        if ((len == 10 && memcmp(c, "user.slice", 10) == 0) || (len > 5 && !memcmp(c, "user@", 5)))
            user = true;
        else if (slurm && !user && len > 4 && memcmp(c, "job_", 4) == 0)
            return job_digits(c + 4, len - 4, id);
        else if ((len >= 5 && memcmp(c, "slurm", 5) == 0) || ends_with(c, len, "slurmstepd.scope"))
            slurm = true;
    }
    return false;
}

bool phx_job_from_cgroup(const char *text, char id[PHX_JOB_ID_MAX])
{
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        /* "hierarchy-ID:controllers:path"; the path may itself hold ':' */
        const char *c1 = memchr(line, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
        if (c2 && job_from_path(c2 + 1, n - (size_t)(c2 + 1 - line), id))
            return true;
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

bool phx_job_from_environ(const char *env, size_t len, char id[PHX_JOB_ID_MAX])
{
    size_t k = strlen(JOB_ENV_NAME);

    for (size_t i = 0; i < len;) {
        const char *e = env + i;
        const char *end = memchr(e, '\0', len - i);
        size_t n = end ? (size_t)(end - e) : len - i;
        if (n > k && memcmp(e, JOB_ENV_NAME, k) == 0)
            return job_digits(e + k, n - k, id);
        i += n + 1;
    }
    return false;
}

/* Reads at most MAX-1 bytes of ROOT/PID/NAME into a malloc'd, NUL-terminated buffer. */
static char *read_proc(const char *root, pid_t pid, const char *name, size_t max, size_t *len)
{
    char path[512];
    char *buf = NULL;

    *len = 0;
    if (snprintf(path, sizeof(path), "%s/%d/%s", root, (int)pid, name) >= (int)sizeof(path))
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || !(buf = malloc(max))) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while (*len < max - 1) {
        ssize_t r = read(fd, buf + *len, max - 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    buf[*len] = '\0';
    close(fd);
    return buf;
}

void phx_job_identify(const char *proc_root, pid_t pid, struct phx_job *job)
{
    size_t len;
    char *text = read_proc(proc_root, pid, "cgroup", JOB_CGROUP_MAX, &len);

    memset(job, 0, sizeof(*job));
    if (text && phx_job_from_cgroup(text, job->id)) {
        job->verified = true;
        free(text);
        return;
    }
    free(text);
    text = read_proc(proc_root, pid, "environ", JOB_ENVIRON_MAX, &len);
    if (text && len == JOB_ENVIRON_MAX - 1) {       /* cut short: only whole entries count */
        while (len > 0 && text[len - 1] != '\0')
            len--;
    }
    if (text)
        phx_job_from_environ(text, len, job->id);
    free(text);
}
