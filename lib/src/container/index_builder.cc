// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// BuildIndex: the writer's side of the index codec. Kept apart from index_codec.cc
// (ParseIndex, the reader's side) so that a reader-only build does not carry the
// FlatBuffers builder.

#include <flatbuffers/flatbuffers.h>

#include <string>
#include <variant>
#include <vector>

#include "container/index_codec.h"
#include "weightless/format.h"
#include "weightless/retrieval.h"
#include "weightless_generated.h"

namespace weightless {
namespace container {

std::vector<uint8_t> BuildIndex(const IndexContents& contents) {
  flatbuffers::FlatBufferBuilder b(4096);
  std::vector<fb::SectionRef> sections;
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const TensorInfo& t : contents.tensors) {
    fb::SectionKind kind = t.storage == Storage::kDense       ? fb::SectionKind::TensorData
                           : t.storage == Storage::kRetrieval ? fb::SectionKind::RetrievalTable
                                                              : fb::SectionKind::PackedCodes;
    sections.emplace_back(t.section_offset, t.stored_bytes, t.raw_bytes, t.checksum, kind,
                          static_cast<fb::Codec>(t.codec), 0, 0);
    auto name = b.CreateString(t.name);
    auto shape = b.CreateVector(t.shape);
    flatbuffers::Offset<flatbuffers::Vector<float>> centroids;
    if (t.storage != Storage::kDense) centroids = b.CreateVector(t.centroids);
    flatbuffers::Offset<fb::RetrievalInfo> retrieval;
    if (t.storage == Storage::kRetrieval) {
      retrieval =
          fb::CreateRetrievalInfo(b, static_cast<uint8_t>(t.retrieval_kind),
                                  static_cast<uint8_t>(t.code_bits), t.retrieval_seed, t.shard_span,
                                  t.shard_count, t.cells, static_cast<uint8_t>(t.retrieval_hash));
    }
    flatbuffers::Offset<fb::LayerStats> stats;
    flatbuffers::Offset<fb::RetrainInfo> retrain;
    if (t.storage != Storage::kDense) {
      stats = fb::CreateLayerStats(b, t.stats.kept, t.stats.false_positives,
                                   t.stats.added_squared_error);
      retrain = fb::CreateRetrainInfo(
          b, t.retrain.encode_order, t.retrain.epochs_after, t.retrain.accuracy_before_encoding,
          t.retrain.accuracy_after_encoding, t.retrain.accuracy_after_retraining);
    }
    fb::TensorBuilder tb(b);
    tb.add_name(name);
    tb.add_shape(shape);
    tb.add_storage(static_cast<fb::Storage>(t.storage));
    tb.add_dtype(static_cast<fb::DType>(t.dtype));
    tb.add_section(static_cast<uint32_t>(tensors.size()));
    if (t.storage != Storage::kDense) {
      tb.add_centroids(centroids);
      tb.add_code_bits(static_cast<uint8_t>(t.code_bits));
      tb.add_stats(stats);
      tb.add_retrain(retrain);
    }
    if (t.storage == Storage::kRetrieval) tb.add_retrieval(retrieval);
    if (t.storage == Storage::kDense && t.dtype == DType::kInt8) tb.add_int8_scale(t.int8_scale);
    tensors.push_back(tb.Finish());
  }
  std::vector<flatbuffers::Offset<fb::MetadataEntry>> metadata;
  for (const MetadataEntry& m : contents.metadata) {
    auto key = b.CreateString(m.key);
    flatbuffers::Offset<flatbuffers::String> str;
    if (const auto* s = std::get_if<std::string>(&m.value)) str = b.CreateString(*s);
    fb::MetadataEntryBuilder mb(b);
    mb.add_key(key);
    if (std::holds_alternative<std::string>(m.value)) {
      mb.add_type(fb::MetadataType::String);
      mb.add_string_value(str);
    } else if (const auto* i = std::get_if<int64_t>(&m.value)) {
      mb.add_type(fb::MetadataType::Int);
      mb.add_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&m.value)) {
      mb.add_type(fb::MetadataType::Double);
      mb.add_double_value(*d);
    } else {
      mb.add_type(fb::MetadataType::Bool);
      mb.add_bool_value(std::get<bool>(m.value));
    }
    metadata.push_back(mb.Finish());
  }
  std::vector<flatbuffers::Offset<fb::RequiredFeature>> features;
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t mask = uint64_t{1} << bit;
    if (contents.required_features & mask) {
      features.push_back(
          fb::CreateRequiredFeatureDirect(b, static_cast<uint8_t>(bit), FeatureName(mask)));
    }
  }
  auto producer = fb::CreateProducerDirect(b, contents.producer_name.c_str(),
                                           contents.producer_version.c_str());
  // The vectors are built one statement each, in a fixed order: as arguments of one
  // call their order would be the compiler's (GCC builds them right to left on x86-64,
  // in another order on aarch64), and so would the file's bytes. This order is the one
  // the checked-in golden files were written in.
  const auto feature_vector = b.CreateVector(features);
  const auto metadata_vector = b.CreateVector(metadata);
  const auto tensor_vector = b.CreateVector(tensors);
  const auto section_vector = b.CreateVectorOfStructs(sections);
  auto index = fb::CreateIndex(b, contents.format_major, contents.format_minor, producer,
                               section_vector, tensor_vector, metadata_vector, feature_vector);
  fb::FinishIndexBuffer(b, index);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace container
}  // namespace weightless
