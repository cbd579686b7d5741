// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-make-golden DIR: writes DIR/golden/sample.wl and DIR/golden-errors/*.wl, the
// checked-in golden files (see crafted_files.h). Run it from the repository root with
// DIR = tests after an intended format change, and commit the result.

#include <cstdio>
#include <filesystem>

#include "crafted_files.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path root = argv[1];
  fs::create_directories(root / "golden");
  fs::create_directories(root / "golden-errors");
  weightless::testing_util::WriteFileBytes((root / "golden" / "sample.wl").string(),
                                           weightless::golden::SampleFile());
  int count = 0;
  for (const auto& [name, bytes] : weightless::golden::CraftedErrorFiles()) {
    weightless::testing_util::WriteFileBytes((root / "golden-errors" / (name + ".wl")).string(),
                                             bytes);
    ++count;
  }
  std::printf("wrote %s and %d files in %s\n", (root / "golden" / "sample.wl").c_str(), count,
              (root / "golden-errors").c_str());
  return 0;
}
