// Links against an installed Weightless and checks that headers and library agree.
#include <cstdio>
#include <cstring>

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
  std::printf("downstream OK: weightless %s\n", weightless::VersionString());
  return 0;
}
