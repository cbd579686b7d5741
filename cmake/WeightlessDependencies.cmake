# Finds every dependency from Debian's packages. When one is missing, configuration
# stops with a message naming the Debian package that provides it
# (scripts/setup-deps installs them all).

function(weightless_require found_var debian_package what)
  if(NOT ${found_var})
    message(FATAL_ERROR
      "Weightless needs ${what}, which was not found. "
      "Install the Debian package '${debian_package}' (apt-get install ${debian_package}), "
      "or run scripts/setup-deps to install every dependency.")
  endif()
endfunction()

find_package(Threads REQUIRED)
find_package(PkgConfig QUIET)
weightless_require(PKG_CONFIG_FOUND pkg-config "pkg-config")

# zstd: Debian ships a CMake package config.
find_package(zstd CONFIG QUIET)
weightless_require(zstd_FOUND libzstd-dev "zstd (CMake package zstd)")
if(TARGET zstd::libzstd_shared)
  set(WEIGHTLESS_ZSTD_TARGET zstd::libzstd_shared)
else()
  set(WEIGHTLESS_ZSTD_TARGET zstd::libzstd_static)
endif()

# xxHash: pkg-config only.
pkg_check_modules(XXHASH QUIET IMPORTED_TARGET libxxhash>=0.8.0)
weightless_require(XXHASH_FOUND libxxhash-dev "xxHash >= 0.8 (pkg-config libxxhash)")

# FlatBuffers: the headers from libflatbuffers-dev and the matching flatc compiler.
find_package(FlatBuffers CONFIG QUIET)
weightless_require(FlatBuffers_FOUND libflatbuffers-dev "FlatBuffers (CMake package FlatBuffers)")
find_program(WEIGHTLESS_FLATC flatc)
weightless_require(WEIGHTLESS_FLATC flatbuffers-compiler "the FlatBuffers compiler flatc")
execute_process(COMMAND "${WEIGHTLESS_FLATC}" --version OUTPUT_VARIABLE _flatc_version
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _flatc_version MATCHES "flatc version ${FlatBuffers_VERSION}")
  message(FATAL_ERROR "flatc (${_flatc_version}) does not match the FlatBuffers headers "
                      "(${FlatBuffers_VERSION}); install matching libflatbuffers-dev and flatbuffers-compiler")
endif()

if(WEIGHTLESS_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  weightless_require(GTest_FOUND "libgtest-dev libgmock-dev" "GoogleTest and GoogleMock")
endif()
if(WEIGHTLESS_BUILD_BENCH)
  find_package(benchmark CONFIG QUIET)
  weightless_require(benchmark_FOUND libbenchmark-dev "Google Benchmark")
endif()
