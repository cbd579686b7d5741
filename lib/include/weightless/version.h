// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The library's version: as macros (for the preprocessor and for CMake, which parses
// the three WEIGHTLESS_VERSION_* lines below; keep their format) and at run time
// (to detect a header/library mismatch).
//
// This is the version of the software. The version of the file format is separate and
// is defined by spec/FORMAT.md.

#ifndef WEIGHTLESS_VERSION_H_
#define WEIGHTLESS_VERSION_H_

#include "weightless/export.h"

#define WEIGHTLESS_VERSION_MAJOR 0
#define WEIGHTLESS_VERSION_MINOR 1
#define WEIGHTLESS_VERSION_PATCH 0

// MAJOR * 10000 + MINOR * 100 + PATCH, e.g. 0.1.0 -> 100. Comparable with < and >.
#define WEIGHTLESS_VERSION_NUMBER \
  (WEIGHTLESS_VERSION_MAJOR * 10000 + WEIGHTLESS_VERSION_MINOR * 100 + WEIGHTLESS_VERSION_PATCH)

#define WEIGHTLESS_STRINGIFY_(x) #x
#define WEIGHTLESS_STRINGIFY(x) WEIGHTLESS_STRINGIFY_(x)
// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
#define WEIGHTLESS_VERSION_STRING                                              \
  WEIGHTLESS_STRINGIFY(WEIGHTLESS_VERSION_MAJOR)                               \
  "." WEIGHTLESS_STRINGIFY(WEIGHTLESS_VERSION_MINOR) "." WEIGHTLESS_STRINGIFY( \
      WEIGHTLESS_VERSION_PATCH)

#ifdef __cplusplus
namespace weightless {

// Returns WEIGHTLESS_VERSION_NUMBER of the library that was linked, which differs
// from the macro when headers and library come from different releases.
WEIGHTLESS_EXPORT int VersionNumber();

// Returns WEIGHTLESS_VERSION_STRING of the library that was linked. The pointer is to
// a static string and is never null.
WEIGHTLESS_EXPORT const char* VersionString();

}  // namespace weightless
#endif

#endif  // WEIGHTLESS_VERSION_H_
