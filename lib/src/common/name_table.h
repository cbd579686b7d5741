// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// One table per enum of the spellings the library, the C API, Python and every tool
// accept and print: the first entry for a value is its name; later ones for the same
// value are older spellings, still parsed (callers may say that they are deprecated by
// comparing the input with the value's name).

#ifndef WEIGHTLESS_COMMON_NAME_TABLE_H_
#define WEIGHTLESS_COMMON_NAME_TABLE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "weightless/status.h"

namespace weightless {
namespace names {

template <typename Enum>
struct Entry {
  Enum value;
  const char* name;
};

// The name of `value` (its first entry), or "unknown".
template <typename Enum, size_t N>
const char* NameOf(const Entry<Enum> (&table)[N], Enum value) {
  for (const Entry<Enum>& e : table) {
    if (e.value == value) return e.name;
  }
  return "unknown";
}

// The value spelled `name`, or InvalidArgument naming `what` and every name accepted
// (older spellings left out).
template <typename Enum, size_t N>
Result<Enum> Parse(const Entry<Enum> (&table)[N], std::string_view name, const char* what) {
  for (const Entry<Enum>& e : table) {
    if (name == e.name) return e.value;
  }
  std::string accepted;
  for (size_t i = 0; i < N; ++i) {
    if (NameOf(table, table[i].value) != table[i].name) continue;  // an older spelling
    if (!accepted.empty()) accepted += ", ";
    accepted += "'" + std::string(table[i].name) + "'";
  }
  return Status::InvalidArgument(std::string(what) + " '" + std::string(name) + "'",
                                 "expected one of " + accepted);
}

}  // namespace names
}  // namespace weightless

#endif  // WEIGHTLESS_COMMON_NAME_TABLE_H_
