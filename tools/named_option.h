// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Command-line options whose values are the names of a library enum: they accept what
// the library's one name table accepts (weightless::Parse*), with its message, and say
// on stderr when an older spelling was used.

#ifndef WEIGHTLESS_TOOLS_NAMED_OPTION_H_
#define WEIGHTLESS_TOOLS_NAMED_OPTION_H_

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace wl_tools {

// A CLI11 check accepting exactly the names `parse` accepts.
template <typename Parse>
CLI::Validator NameIn(Parse parse, const std::string& names) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto parsed = parse(text);
        return parsed.ok() ? std::string() : parsed.status().ToString();
      },
      names);
}

// The value `text` names (checked by NameIn), with a note when it is an older spelling.
template <typename Parse, typename Name>
auto ParseNamed(const char* tool, const char* option, const std::string& text, Parse parse,
                Name name_of) {
  auto value = *parse(text);
  const std::string current = name_of(value);
  if (text != current) {
    std::fprintf(stderr, "%s: %s %s is an older spelling of %s; it will be removed\n", tool, option,
                 text.c_str(), current.c_str());
  }
  return value;
}

// Says on stderr that `old_name` was used instead of `new_name`.
inline void NoteOldOption(const char* tool, const CLI::Option* old_option, const char* old_name,
                          const char* new_name) {
  if (old_option->count() > 0) {
    std::fprintf(stderr, "%s: %s is an older spelling of %s; it will be removed\n", tool, old_name,
                 new_name);
  }
}

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_NAMED_OPTION_H_
