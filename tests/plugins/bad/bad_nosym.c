/* bad_nosym.c - a plain shared object without phx_plugin_descriptor: not a Phoenix plugin. */
int phx_test_not_a_plugin(void);

int phx_test_not_a_plugin(void)
{
    return 42;
}
