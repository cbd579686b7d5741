// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The corpus regression driver: a main() for a fuzz target's LLVMFuzzerTestOneInput
// that runs every file named on the command line, and every file in every directory
// named (sorted, not recursive), once, without libFuzzer. ctest runs it on the
// committed corpus in every build, so an input that once crashed stays fixed whatever
// the compiler. A failed property aborts inside the target; this driver fails when an
// argument names nothing or a directory holds no file, so a lost corpus cannot pass
// silently.
//
//   fuzz_read_replay tests/fuzz/corpus/fuzz_read tests/golden/sample.wl

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool RunFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  // Name the input first, so that a crash inside the target says which one it was.
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
    return 2;
  }
  size_t runs = 0;
  for (int a = 1; a < argc; ++a) {
    const fs::path arg(argv[a]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& e : fs::directory_iterator(arg, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      if (ec || files.empty()) {
        std::fprintf(stderr, "replay: no input in directory %s\n", argv[a]);
        return 1;
      }
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) {
        if (!RunFile(f)) return 1;
        ++runs;
      }
    } else if (fs::is_regular_file(arg, ec)) {
      if (!RunFile(arg)) return 1;
      ++runs;
    } else {
      std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", argv[a]);
      return 1;
    }
  }
  std::printf("replay: %zu inputs ran without a failure\n", runs);
  return 0;
}
