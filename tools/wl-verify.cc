// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-verify FILE...: checks each file completely: structure and index, every section's
// checksum, codec and contents, all padding, and a full decode of every tensor. Prints
// one line per problem (naming tensor and offset) and one summary line per file.
//
// Exit codes: 0 every file is sound; 1 a file is damaged (it opens, but a check or a
// decode fails); 2 a file is unusable (missing, unreadable, or refused at open).

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "last_resort.h"
#include "weightless/reader.h"
#include "weightless/version.h"

int main(int argc, char** argv) {
  CLI::App app{"wl-verify: check Weightless (.wl) files completely"};
  app.set_version_flag("--version",
                       std::string("wl-verify (weightless ") + weightless::VersionString() + ")");
  std::vector<std::string> paths;
  app.add_option("FILE", paths, "the .wl files")->required();
  app.footer("Exit codes: 0 all sound, 1 a file is damaged, 2 a file is unusable.");
  CLI11_PARSE(app, argc, argv);
  return wl_tools::WithLastResort("wl-verify", 2, [&]() -> int {
    int worst = 0;
    for (const std::string& path : paths) {
      auto reader = weightless::Reader::Open(path);
      if (!reader.ok()) {
        std::printf("%s: UNUSABLE: %s\n", path.c_str(), reader.status().ToString().c_str());
        worst = 2;
        continue;
      }
      std::vector<weightless::Status> problems = reader->Verify();
      size_t too_large = 0;  // tensors verified but too large to decode in memory
      for (size_t i = 0; i < reader->tensor_count(); ++i) {
        const weightless::TensorInfo& t = reader->tensor(i);
        std::vector<float> out;
        try {
          out.resize(t.element_count());
        } catch (const std::exception&) {  // bad_alloc, length_error: a legal 2^48-weight layer
          std::printf("%s: tensor '%s': not decoded: %llu values do not fit in memory\n",
                      path.c_str(), t.name.c_str(),
                      static_cast<unsigned long long>(t.element_count()));
          ++too_large;
          continue;
        }
        weightless::Status s = reader->Decode(i, out.data(), out.size(), 0);
        bool seen = false;
        for (const weightless::Status& p : problems) seen |= p.ToString() == s.ToString();
        if (!s.ok() && !seen) problems.push_back(s);
      }
      for (const weightless::Status& p : problems) {
        std::printf("%s: %s\n", path.c_str(), p.ToString().c_str());
      }
      if (problems.empty()) {
        if (too_large == 0) {
          std::printf("%s: OK (%zu tensors, %llu bytes, every checksum and tensor verified)\n",
                      path.c_str(), reader->tensor_count(),
                      static_cast<unsigned long long>(reader->file_size()));
        } else {
          std::printf(
              "%s: OK (%zu tensors, %llu bytes, every checksum verified; %zu tensor%s too "
              "large to decode here)\n",
              path.c_str(), reader->tensor_count(),
              static_cast<unsigned long long>(reader->file_size()), too_large,
              too_large == 1 ? "" : "s");
        }
      } else {
        std::printf("%s: DAMAGED (%zu problem%s)\n", path.c_str(), problems.size(),
                    problems.size() == 1 ? "" : "s");
        if (worst < 1) worst = 1;
      }
    }
    return worst;
  });
}
