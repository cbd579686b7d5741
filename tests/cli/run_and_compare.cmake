# Runs one command and compares what it printed with an expected-output file.
#
#   cmake -DCOMMAND=<program|arg|arg...> -DEXPECTED=<file> [-DWORKING_DIRECTORY=<dir>]
#         -DSOURCE_DIR=<repo> -DBINARY_DIR=<build> -P run_and_compare.cmake
#
# COMMAND separates its words with '|'. The expected file holds the command's stdout,
# then "[stderr]" and its stderr if it wrote any, then "[exit N]". Paths under SOURCE_DIR
# and BINARY_DIR are written <src> and <build>, so the files do not depend on where the
# tree is checked out. With WL_UPDATE_EXPECTED=1 in the environment the expected file
# is rewritten instead (after an intended change of output; review the diff).
string(REPLACE "|" ";" command "${COMMAND}")
if(NOT WORKING_DIRECTORY)
  set(WORKING_DIRECTORY "${BINARY_DIR}")
endif()
execute_process(COMMAND ${command}
  WORKING_DIRECTORY "${WORKING_DIRECTORY}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE code)
set(actual "${out}")
if(NOT err STREQUAL "")
  string(APPEND actual "[stderr]\n${err}")
endif()
string(APPEND actual "[exit ${code}]\n")
string(REPLACE "${BINARY_DIR}" "<build>" actual "${actual}")
string(REPLACE "${SOURCE_DIR}" "<src>" actual "${actual}")

if("$ENV{WL_UPDATE_EXPECTED}" STREQUAL "1")
  file(WRITE "${EXPECTED}" "${actual}")
  message(STATUS "rewrote ${EXPECTED}")
  return()
endif()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "missing ${EXPECTED}; the command printed:\n${actual}")
endif()
file(READ "${EXPECTED}" expected)
if(NOT actual STREQUAL expected)
  get_filename_component(name "${EXPECTED}" NAME)
  file(WRITE "${BINARY_DIR}/${name}.actual" "${actual}")
  execute_process(COMMAND diff -u "${EXPECTED}" "${BINARY_DIR}/${name}.actual")
  message(FATAL_ERROR "output differs from ${EXPECTED} (diff above; actual output in "
                      "${BINARY_DIR}/${name}.actual)")
endif()
