// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The names of the encoder's option enums (weightless/encoder.h).

#include "common/name_table.h"
#include "weightless/encoder.h"

namespace weightless {
namespace {

constexpr names::Entry<LayerStorage> kLayerStorageNames[] = {
    {LayerStorage::kAuto, "auto"},
    {LayerStorage::kRetrieval, "retrieval"},
    {LayerStorage::kPackedCodes, "packed-codes"},
    {LayerStorage::kPackedCodes, "packed"},  // wl-encode's older spelling
};

constexpr names::Entry<FalsePositiveCostKind> kCostKindNames[] = {
    {FalsePositiveCostKind::kSquaredError, "squared_error"},
    {FalsePositiveCostKind::kActivation, "activation"},
    {FalsePositiveCostKind::kSquaredError, "squared-error"},  // wl-train's older spelling
};

}  // namespace

const char* LayerStorageName(LayerStorage storage) {
  return names::NameOf(kLayerStorageNames, storage);
}

Result<LayerStorage> ParseLayerStorage(std::string_view name) {
  return names::Parse(kLayerStorageNames, name, "storage");
}

const char* FalsePositiveCostKindName(FalsePositiveCostKind kind) {
  return names::NameOf(kCostKindNames, kind);
}

Result<FalsePositiveCostKind> ParseFalsePositiveCostKind(std::string_view name) {
  return names::Parse(kCostKindNames, name, "cost");
}

}  // namespace weightless
