// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The last resort of every tool's main: no input may end a tool with an uncaught
// exception (std::terminate, a signal). Errors are reported through Status; an exception
// that escapes anyway becomes one line on stderr, "TOOL: out of memory" or
// "TOOL: internal error: ...", and the tool's failure exit code.

#ifndef WEIGHTLESS_TOOLS_LAST_RESORT_H_
#define WEIGHTLESS_TOOLS_LAST_RESORT_H_

#include <cstdio>
#include <exception>
#include <new>

namespace wl_tools {

// Returns run(), or `failure` after reporting an exception it throws.
template <typename Run>
int WithLastResort(const char* tool, int failure, Run run) {
  try {
    return run();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory\n", tool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", tool, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: internal error: unknown exception\n", tool);
  }
  return failure;
}

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_LAST_RESORT_H_
