// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Choosing tensors by name: shell-style patterns ('*', '?', '[...]', as fnmatch(3)
// without FNM_PATHNAME, so '*' also matches '.' and '/'), and per-tensor option values
// written "VALUE" (every tensor) or "PATTERN=VALUE" (tensors matching PATTERN). When
// several rules match, the last one given wins.

#ifndef WEIGHTLESS_TOOLS_INTERCHANGE_PATTERNS_H_
#define WEIGHTLESS_TOOLS_INTERCHANGE_PATTERNS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wl_tools {

bool MatchesPattern(const std::string& pattern, const std::string& name);
bool MatchesAny(const std::vector<std::string>& patterns, const std::string& name);

// Rules "VALUE" or "PATTERN=VALUE", already split; value text is converted by the caller.
class PerTensorRules {
 public:
  // Splits each rule at its last '='; a rule without '=' applies to every tensor.
  explicit PerTensorRules(const std::vector<std::string>& rules);
  // The value text of the last rule matching `name`, if any.
  std::optional<std::string> Lookup(const std::string& name) const;
  // Every rule's value text, for validating them before any work is done.
  std::vector<std::string> Values() const;

 private:
  std::vector<std::pair<std::string, std::string>> rules_;  // pattern ("*" for all), value
};

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_INTERCHANGE_PATTERNS_H_
