// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// WEIGHTLESS_EXPORT marks the public API. The library is built with hidden symbol
// visibility, so only what carries this mark is visible from a shared build.

#ifndef WEIGHTLESS_EXPORT_H_
#define WEIGHTLESS_EXPORT_H_

#if defined(WEIGHTLESS_SHARED_LIBRARY)
#if defined(_WIN32)
#if defined(WEIGHTLESS_COMPILE_LIBRARY)
#define WEIGHTLESS_EXPORT __declspec(dllexport)
#else
#define WEIGHTLESS_EXPORT __declspec(dllimport)
#endif
#else
#define WEIGHTLESS_EXPORT __attribute__((visibility("default")))
#endif
#else
#define WEIGHTLESS_EXPORT
#endif

#endif  // WEIGHTLESS_EXPORT_H_
