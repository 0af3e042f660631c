/* names.h - protoc-c's naming rules, so generated stubs name protoc-c's types and descriptors
 * exactly as protoc-c 1.4 does (protoc-c/c_helpers.cc: ToCamel, CamelToLower, CamelToUpper,
 * FullNameToC/Lower/Upper, FilenameIdentifier, StripProto).
 *
 * A full name is split at dots and each piece converted, then joined with "__":
 *   package rpc_hello, message HelloRequest -> C type RpcHello__HelloRequest,
 *   lower rpc_hello__hello_request (+ "__descriptor"), upper RPC_HELLO__HELLO_REQUEST.
 * CamelToLower puts "_" before an upper-case letter that follows a non-upper-case character only,
 * so "HTTPServer2Foo" becomes "httpserver2_foo"; ToCamel drops "_" and upper-cases what follows,
 * so "top_level2x" becomes "TopLevel2x". Results are allocated in ARENA. */
#ifndef MRPC_CODEGEN_NAMES_H
#define MRPC_CODEGEN_NAMES_H

#include "arena.h"

char *names_to_camel(arena_t *arena, const char *piece);
char *names_camel_to_lower(arena_t *arena, const char *piece);
char *names_camel_to_upper(arena_t *arena, const char *piece);

char *names_full_to_c(arena_t *arena, const char *full_name);
char *names_full_to_lower(arena_t *arena, const char *full_name);
char *names_full_to_upper(arena_t *arena, const char *full_name);

/* A field's struct member, as protoc-c's FieldName: lower-cased, and "_" appended when that is
 * a keyword of its (C++) list: "Name" -> "name", "class" -> "class_". */
char *names_field_member(arena_t *arena, const char *field_name);
/* The field name lower-cased, without the keyword suffix: what builder names end in. */
char *names_to_lower(arena_t *arena, const char *piece);
/* True when protoc-c keeps NAME (a member it made) although C reserves it ("restrict"), so that
 * its struct would not compile. */
int   names_unescaped_c_keyword(const char *member);

/* "rpc_hello.proto" -> "rpc_5fhello_2eproto": alphanumerics kept, others as "_" + hex. */
char *names_filename_identifier(arena_t *arena, const char *filename);
/* "dir/x.proto" -> "dir/x" (also strips ".protodevel", like protoc-c). */
char *names_strip_proto(arena_t *arena, const char *filename);
/* "PKG.NAME", or "NAME" when PKG is empty: full names of things declared in a package. */
char *names_join(arena_t *arena, const char *pkg, const char *name);

#endif /* MRPC_CODEGEN_NAMES_H */
