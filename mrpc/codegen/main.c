/* main.c - protoc-gen-mrpc, the protoc plugin that writes mRPC stubs.
 *
 * protoc runs it with a serialized CodeGeneratorRequest on stdin and reads a CodeGeneratorResponse
 * from stdout (google/protobuf/compiler/plugin.proto). Problems with the .proto files go in the
 * response's error field, which protoc prints and fails on; only a broken conversation with protoc
 * itself (unreadable input, failed write) ends the process with a status and a stderr message.
 *
 *     protoc --plugin=protoc-gen-mrpc=PATH --mrpc_out=DIR --c_out=DIR x.proto
 *     protoc-gen-mrpc --help | --version
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "generate.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

/* Reads FD to end of file into a malloc'd buffer, retrying short reads and EINTR. */
static int read_all(int fd, uint8_t **data, size_t *len)
{
    size_t cap = 64 * 1024, n = 0;
    uint8_t *buf = xrealloc(NULL, cap);
    for (;;) {
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + n, cap - n);
        if (got == 0)
            break;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            free(buf);
            return -saved;
        }
        n += (size_t)got;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t put = write(fd, data, len);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return -errno;
        data += put;
        len -= (size_t)put;
    }
    return 0;
}

static int write_response(const Google__Protobuf__Compiler__CodeGeneratorResponse *response)
{
    size_t len = google__protobuf__compiler__code_generator_response__get_packed_size(response);
    uint8_t *bytes = xrealloc(NULL, len);
    google__protobuf__compiler__code_generator_response__pack(response, bytes);
    int rc = write_all(STDOUT_FILENO, bytes, len);
    free(bytes);
    return rc;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: protoc --plugin=protoc-gen-mrpc=%s --mrpc_out=DIR ... x.proto\n"
                 "       protoc-gen-mrpc --help | --version\n"
                 "(a protoc plugin: it reads protoc's request on stdin)\n", prog);
}

/* Run by hand: --help or --version. Returns the exit code. */
static int command_line(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("protoc-gen-mrpc %s\n", PHX_VERSION);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    usage(stderr, argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return command_line(argc, argv);
    uint8_t *input = NULL;
    size_t len = 0;
    int rc = read_all(STDIN_FILENO, &input, &len);
    if (rc) {
        fprintf(stderr, "protoc-gen-mrpc: reading the request from stdin: %s\n", strerror(-rc));
        return 1;
    }
    Google__Protobuf__Compiler__CodeGeneratorRequest *request =
        google__protobuf__compiler__code_generator_request__unpack(NULL, len, input);
    free(input);
    if (!request) {
        fprintf(stderr, "protoc-gen-mrpc: stdin is not a CodeGeneratorRequest: run me from protoc\n");
        return 1;
    }

    arena_t *arena = arena_new();
    Google__Protobuf__Compiler__CodeGeneratorResponse response =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    generate(&response, arena, request);
    rc = write_response(&response);
    arena_free(arena);
    google__protobuf__compiler__code_generator_request__free_unpacked(request, NULL);
    if (rc) {
        fprintf(stderr, "protoc-gen-mrpc: writing the response to stdout: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
