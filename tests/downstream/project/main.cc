// Links against an installed Weightless and checks that headers and library agree.
#include <cstdio>
#include <cstring>

#include "weightless/retrieval.h"
#include "weightless/status.h"
#include "weightless/version.h"

int main() {
  if (std::strcmp(weightless::VersionString(), WEIGHTLESS_VERSION_STRING) != 0) {
    std::fprintf(stderr, "version mismatch: %s vs %s\n", weightless::VersionString(),
                 WEIGHTLESS_VERSION_STRING);
    return 1;
  }
  weightless::Status s = weightless::Status::NotFound("layer", "fc1");
  if (s.ToString() != "Not found: layer: fc1") return 1;
  // Build and query a small table through the installed library.
  const uint64_t keys[] = {3, 10, 99};
  const uint16_t values[] = {5, 1, 7};
  weightless::RetrievalOptions options;
  options.value_bits = 3;
  auto table = weightless::RetrievalTable::Build(100, keys, values, 3, options);
  if (!table.ok()) return 1;
  for (int i = 0; i < 3; ++i) {
    if (table->view().Lookup(keys[i]) != values[i]) return 1;
  }
  std::printf("downstream OK: weightless %s\n", weightless::VersionString());
  return 0;
}
