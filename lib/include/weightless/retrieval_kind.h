// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The encodings and key hashings of a retrieval table (weightless/retrieval.h), apart from the
// tables themselves, so that describing a file's tensors (weightless/tensor.h) does not need the
// table API.

#ifndef WEIGHTLESS_RETRIEVAL_KIND_H_
#define WEIGHTLESS_RETRIEVAL_KIND_H_

#include <cstdint>
#include <optional>
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

// How a table hashes its keys (spec/RETRIEVAL.md, "Hashing"). The numeric values are part
// of the persistent format and never change.
enum class RetrievalHash : uint8_t {
  // XXH3-64 of each key, then multiplications of the 64-bit hash (format 1.0). Every kind.
  kXxh3 = 0,
  // Three 32-bit integer mixers of the key's low 32 bits (retrieval format 1.1): the same
  // table size and false-positive rate, and ribbon decode 1.1-1.3x faster on AVX2, whose
  // vectors multiply 32-bit lanes natively. Ribbon only, with shard_span <= 2^32. A file
  // holding such a table needs file format 1.1 (feature "ribbon-mix32").
  kMix32 = 1,
};

// "xxh3" or "mix32"; "unknown" for other values. Never null.
WEIGHTLESS_EXPORT const char* RetrievalHashName(RetrievalHash hash);
// Parses "xxh3" or "mix32". Returns InvalidArgument naming the accepted values.
WEIGHTLESS_EXPORT Result<RetrievalHash> ParseRetrievalHash(std::string_view name);

// The hashing of a new table when none is asked for: mix32 for ribbon tables whose
// shards span at most 2^32 indices, else xxh3 (bloomier tables, and ribbon tables with
// larger shards, which mix32 cannot hash).
WEIGHTLESS_EXPORT RetrievalHash DefaultRetrievalHash(RetrievalKind kind, uint64_t shard_span);

// OK when `kind` is a known encoding and `hash`, when given, a known hashing defined for
// `kind` (mix32 is for ribbon only); else InvalidArgument naming the value. What a new
// table's options must satisfy before anything is built (RetrievalTable::Build,
// EncodeLayer); the shard span's limit for mix32 is checked where the span is known.
WEIGHTLESS_EXPORT Status CheckRetrievalKindAndHash(RetrievalKind kind,
                                                   std::optional<RetrievalHash> hash);

}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_KIND_H_
