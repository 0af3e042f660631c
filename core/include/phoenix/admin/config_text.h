/* config_text.h - checks on libconfig text that an admin hands the service (config_text.c). */
#ifndef PHX_CONFIG_TEXT_H
#define PHX_CONFIG_TEXT_H

/* The line of the first @include directive in TEXT, or 0. Text sent to the service (a
 * descriptor's config_string, a live `set`) may not make it open files: libconfig would open an
 * @include'd file relative to the service's current directory. */
unsigned phx_config_text_include_line(const char *text);

#endif /* PHX_CONFIG_TEXT_H */
