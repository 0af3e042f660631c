/* names.c - character-by-character ports of protoc-c's helpers; see names.h for the rules. The
 * C locale's ctype is what protoc-c uses, and proto identifiers are ASCII anyway. */
#include "names.h"

#include <ctype.h>
#include <string.h>

#include "strbuf.h"

typedef char *(*piece_fn)(arena_t *arena, const char *piece);

char *names_to_camel(arena_t *arena, const char *piece)
{
    char *out = arena_alloc(arena, strlen(piece) + 1);
    size_t n = 0;
    int next_upper = 1;
    for (const char *p = piece; *p; p++) {
        if (*p == '_') {
            next_upper = 1;
        } else {
            out[n++] = next_upper ? (char)toupper((unsigned char)*p) : *p;
            next_upper = 0;
        }
    }
    return out;
}

/* CamelToLower and CamelToUpper differ only in the case they convert to. */
static char *camel_split(arena_t *arena, const char *piece, int (*convert)(int))
{
    char *out = arena_alloc(arena, 2 * strlen(piece) + 1);
    size_t n = 0;
    int was_upper = 1;    /* no "_" before a leading capital */
    for (const char *p = piece; *p; p++) {
        int is_upper = isupper((unsigned char)*p) != 0;
        if (is_upper && !was_upper)
            out[n++] = '_';
        out[n++] = (char)convert((unsigned char)*p);
        was_upper = is_upper;
    }
    return out;
}

char *names_camel_to_lower(arena_t *arena, const char *piece)
{
    return camel_split(arena, piece, tolower);
}

char *names_camel_to_upper(arena_t *arena, const char *piece)
{
    return camel_split(arena, piece, toupper);
}

/* Splits FULL_NAME at dots, skipping empty pieces (a leading "." of ".pkg.Msg"), converts each
 * piece with FN and joins them with "__". */
static char *full_name_convert(arena_t *arena, const char *full_name, piece_fn fn)
{
    strbuf_t sb = STRBUF_INIT;
    char *piece = arena_alloc(arena, strlen(full_name) + 1);
    for (const char *p = full_name; *p;) {
        size_t len = strcspn(p, ".");
        if (len > 0) {
            memcpy(piece, p, len);
            piece[len] = '\0';
            sb_printf(&sb, "%s%s", sb.len ? "__" : "", fn(arena, piece));
        }
        p += len + (p[len] == '.');
    }
    char *out = arena_strdup(arena, sb_str(&sb));
    sb_free(&sb);
    return out;
}

char *names_full_to_c(arena_t *arena, const char *full_name)
{
    return full_name_convert(arena, full_name, names_to_camel);
}

char *names_full_to_lower(arena_t *arena, const char *full_name)
{
    return full_name_convert(arena, full_name, names_camel_to_lower);
}

char *names_full_to_upper(arena_t *arena, const char *full_name)
{
    return full_name_convert(arena, full_name, names_camel_to_upper);
}

char *names_filename_identifier(arena_t *arena, const char *filename)
{
    strbuf_t sb = STRBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)filename; *p; p++) {
        if (isalnum(*p))
            sb_printf(&sb, "%c", *p);
        else
            sb_printf(&sb, "_%x", *p);    /* protoc-c: FastHexToBuffer, lower case, no padding */
    }
    char *out = arena_strdup(arena, sb_str(&sb));
    sb_free(&sb);
    return out;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t len = strlen(s), slen = strlen(suffix);
    return len >= slen && strcmp(s + len - slen, suffix) == 0;
}

char *names_strip_proto(arena_t *arena, const char *filename)
{
    char *out = arena_strdup(arena, filename);
    if (has_suffix(out, ".protodevel"))
        out[strlen(out) - strlen(".protodevel")] = '\0';
    else if (has_suffix(out, ".proto"))
        out[strlen(out) - strlen(".proto")] = '\0';
    return out;
}

char *names_join(arena_t *arena, const char *pkg, const char *name)
{
    return pkg && *pkg ? arena_printf(arena, "%s.%s", pkg, name) : arena_strdup(arena, name);
}

char *names_to_lower(arena_t *arena, const char *piece)
{
    char *out = arena_strdup(arena, piece);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* protoc-c 1.4's kKeywordList (c_helpers.cc): C++'s keywords, which cover C's but "restrict". */
static const char *const pb_c_keywords[] = {
    "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char",
    "class", "compl", "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float", "for", "friend",
    "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "not", "not_eq",
    "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "return", "short", "signed", "sizeof", "static", "static_cast", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typeid", "typename", "union",
    "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
};

char *names_field_member(arena_t *arena, const char *field_name)
{
    char *lower = names_to_lower(arena, field_name);
    for (size_t i = 0; i < sizeof(pb_c_keywords) / sizeof(pb_c_keywords[0]); i++)
        if (strcmp(lower, pb_c_keywords[i]) == 0)
            return arena_printf(arena, "%s_", lower);
    return lower;
}

int names_unescaped_c_keyword(const char *member)
{
    /* lower case only: every other C keyword starts with "_" and a capital, or is escaped */
    return strcmp(member, "restrict") == 0 || strcmp(member, "typeof") == 0;
}
