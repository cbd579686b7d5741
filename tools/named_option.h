// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Command-line options whose values are the names of a library enum: they accept what
// the library's one name table accepts (weightless::Parse*), with its message, and say
// on stderr when an older spelling was used.

#ifndef WEIGHTLESS_TOOLS_NAMED_OPTION_H_
#define WEIGHTLESS_TOOLS_NAMED_OPTION_H_

#include <CLI/CLI.hpp>

#include <optional>

#include "weightless/retrieval_kind.h"

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

// The --hash option of the tools that encode tables, into `text`: "auto" (the kind's
// default, DefaultRetrievalHash), "mix32" or "xxh3".
inline CLI::Option* AddHashOption(CLI::App& app, std::string* text) {
  *text = "auto";
  return app
      .add_option("--hash", *text,
                  "key hashing of the tables: auto (mix32 for ribbon, xxh3 for bloomier), "
                  "mix32 (ribbon only; needs a reader of format 1.1) or xxh3 (readable by "
                  "format 1.0 readers)")
      ->check(CLI::IsMember({"auto", "mix32", "xxh3"}))
      ->capture_default_str();
}

// The hash the --hash value `text` (checked by AddHashOption) asks for, unset for "auto";
// an error message naming the options when the library's rule (CheckRetrievalKindAndHash)
// refuses it for `kind`: with a known kind and hash, only mix32 on a bloomier table.
inline std::optional<weightless::RetrievalHash> ChosenHash(const std::string& text,
                                                           weightless::RetrievalKind kind,
                                                           std::string* error) {
  if (text == "auto") return std::nullopt;
  const weightless::RetrievalHash hash = *weightless::ParseRetrievalHash(text);
  if (!weightless::CheckRetrievalKindAndHash(kind, hash).ok()) {
    *error = std::string("--hash: mix32 is for ribbon tables only (--encoding ") +
             weightless::RetrievalKindName(kind) + ")";
  }
  return hash;
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
