// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "patterns.h"

#include <fnmatch.h>

namespace wl_tools {

bool MatchesPattern(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool MatchesAny(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& p : patterns) {
    if (MatchesPattern(p, name)) return true;
  }
  return false;
}

PerTensorRules::PerTensorRules(const std::vector<std::string>& rules) {
  for (const std::string& r : rules) {
    const size_t eq = r.rfind('=');
    if (eq == std::string::npos) {
      rules_.emplace_back("*", r);
    } else {
      rules_.emplace_back(r.substr(0, eq), r.substr(eq + 1));
    }
  }
}

std::optional<std::string> PerTensorRules::Lookup(const std::string& name) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    if (MatchesPattern(it->first, name)) return it->second;
  }
  return std::nullopt;
}

std::vector<std::string> PerTensorRules::Values() const {
  std::vector<std::string> values;
  for (const auto& r : rules_) values.push_back(r.second);
  return values;
}

}  // namespace wl_tools
