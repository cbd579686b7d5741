# Installs the already-built library from BUILD_DIR into a temporary prefix, then
# configures, builds and runs tests/downstream/project against it.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed (${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/downstream/project"
                        -B "${WORK_DIR}/build" -DCMAKE_PREFIX_PATH=${prefix}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream configure failed (${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream build failed (${rc})")
endif()
execute_process(COMMAND "${WORK_DIR}/build/downstream" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream program failed (${rc})")
endif()
# The pkg-config file must describe the same installation.
file(GLOB pc_dirs "${prefix}/lib*/pkgconfig" "${prefix}/lib/*/pkgconfig")
string(REPLACE ";" ":" pc_path "${pc_dirs}")
set(ENV{PKG_CONFIG_PATH} "${pc_path}")
execute_process(COMMAND pkg-config --modversion weightless
                RESULT_VARIABLE rc OUTPUT_VARIABLE pc_version OUTPUT_STRIP_TRAILING_WHITESPACE)
if(rc OR NOT pc_version MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
  message(FATAL_ERROR "pkg-config --modversion weightless failed: '${pc_version}' (${rc})")
endif()
message(STATUS "pkg-config reports weightless ${pc_version}")
