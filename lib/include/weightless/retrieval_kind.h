// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The encodings of a retrieval table (weightless/retrieval.h), apart from the tables
// themselves, so that describing a file's tensors (weightless/tensor.h) does not need
// the table API.

#ifndef WEIGHTLESS_RETRIEVAL_KIND_H_
#define WEIGHTLESS_RETRIEVAL_KIND_H_

#include <cstdint>
#include <string_view>

#include "weightless/export.h"
#include "weightless/status.h"

namespace weightless {

// The encoding of a retrieval table. The numeric values are part of the persistent
// format (spec/RETRIEVAL.md) and never change.
enum class RetrievalKind : uint8_t {
  kBloomier = 1,
  kRibbon = 2,
};

// "bloomier" or "ribbon"; "unknown" for other values. Never null.
WEIGHTLESS_EXPORT const char* RetrievalKindName(RetrievalKind kind);
// Parses "bloomier" or "ribbon". Returns InvalidArgument naming the accepted values.
WEIGHTLESS_EXPORT Result<RetrievalKind> ParseRetrievalKind(std::string_view name);

}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_KIND_H_
