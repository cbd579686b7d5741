# Cross-compiling for 64-bit Arm Linux (aarch64) with Debian's cross compilers and
# multiarch packages, and running what is built under qemu:
#
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install g++-aarch64-linux-gnu qemu-user-static \
#     libzstd-dev:arm64 libxxhash-dev:arm64 libflatbuffers-dev:arm64 \
#     libgtest-dev:arm64 libgmock-dev:arm64          # (scripts/setup-deps does this)
#   cmake -S . -B build/aarch64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake ...
#
# The pattern for other targets is the same four parts, each marked below:
#   1. the target system and processor;
#   2. the compilers;
#   3. where the target's libraries, headers and CMake packages are (here Debian's
#      multiarch directories; an Android NDK or iOS build instead uses the NDK's
#      toolchain file, build/cmake/android.toolchain.cmake with ANDROID_ABI=arm64-v8a,
#      or CMAKE_SYSTEM_NAME=iOS with CMAKE_OSX_ARCHITECTURES=arm64, and a sysroot
#      holding zstd and xxHash built for that target, named by CMAKE_FIND_ROOT_PATH);
#   4. optionally, an emulator that runs the target's programs on the build machine, so
#      that ctest and gtest_discover_tests work (on a device instead, push the test
#      binaries and run them there).
# Programs that run during the build (flatc, which generates the index header) always
# come from the build machine; the FlatBuffers headers do not depend on the target.

# 1. The target.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(WEIGHTLESS_TARGET_TRIPLE aarch64-linux-gnu)

# 2. The compilers (Debian: g++-aarch64-linux-gnu).
set(CMAKE_C_COMPILER ${WEIGHTLESS_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${WEIGHTLESS_TARGET_TRIPLE}-g++)

# 3. The target's files. Debian's cross toolchain keeps its C and C++ runtime in
# /usr/aarch64-linux-gnu; the arm64 multiarch -dev packages (libzstd-dev:arm64, ...) put
# their libraries and CMake packages in /usr/lib/aarch64-linux-gnu and their headers in
# /usr/include, shared with the build machine's. CMAKE_LIBRARY_ARCHITECTURE makes
# find_library and find_package look in the aarch64 multiarch directory (and never in
# /usr/lib/x86_64-linux-gnu); "/" is a root so that /usr/include, /usr/share/cmake
# (header-only packages) and /usr/lib/aarch64-linux-gnu are found.
set(CMAKE_LIBRARY_ARCHITECTURE ${WEIGHTLESS_TARGET_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${WEIGHTLESS_TARGET_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # programs run on the build machine
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (xxHash) reads the target's .pc files only. Set in the environment, where
# FindPkgConfig's pkg-config calls see it.
set(ENV{PKG_CONFIG_LIBDIR}
    /usr/lib/${WEIGHTLESS_TARGET_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# 4. Running the target's programs: qemu's user-mode emulator (Debian:
# qemu-user-static), with the cross toolchain's runtime as the root for the dynamic
# loader (-L). The loader must find the libc of the same build, the toolchain's in
# /usr/aarch64-linux-gnu/lib: without LD_LIBRARY_PATH it would take the arm64 multiarch
# libc6 from /etc/ld.so.cache (installed with libzstd1:arm64, a slightly different
# version), and a loader and libc that differ hang in the first pthread_create.
# ctest and gtest_discover_tests prefix every test command with the emulator.
find_program(WEIGHTLESS_QEMU_AARCH64 qemu-aarch64-static)
if(WEIGHTLESS_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${WEIGHTLESS_QEMU_AARCH64} -L /usr/${WEIGHTLESS_TARGET_TRIPLE}
      -E LD_LIBRARY_PATH=/usr/${WEIGHTLESS_TARGET_TRIPLE}/lib)
endif()
