# phx_add_plugin(TARGET SOURCES...): one plugin (a MODULE .so) built against libphoenix with
# hidden visibility, so that it exports nothing but the descriptor PHX_PLUGIN marks default-
# visible (static libraries linked in stay hidden too). Every plugin is listed in the global
# property PHX_PLUGINS, which test_plugin_exports (tests/CMakeLists.txt) checks with nm.
function(phx_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE phoenix)
  set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden)
  target_link_options(${target} PRIVATE "LINKER:--exclude-libs,ALL")
  set_property(GLOBAL APPEND PROPERTY PHX_PLUGINS ${target})
endfunction()
