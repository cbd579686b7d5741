// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The .wl container: round trips of every tensor kind through every way of writing and
// reading, atomic writes, damaged and crafted files, schema evolution, concurrency.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "file_test_util.h"
#include "weightless/format.h"

namespace weightless {
namespace {

using testing_util::SampleFileBytes;
using testing_util::SampleModel;

namespace fs = std::filesystem;

// A fresh directory under the test's temporary directory.
std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 ("weightless_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

FileError ErrorOf(const Status& s) { return static_cast<FileError>(s.detail()); }

void ExpectModel(const Reader& reader, const SampleModel& model) {
  ASSERT_EQ(reader.tensor_count(), model.names.size());
  for (size_t k = 0; k < model.names.size(); ++k) {
    Result<size_t> i = reader.FindTensor(model.names[k]);
    ASSERT_TRUE(i.ok()) << model.names[k];
    const TensorInfo& t = reader.tensor(*i);
    ASSERT_EQ(t.element_count(), model.expected[k].size()) << t.name;
    std::vector<float> out(t.element_count());
    for (int threads : {1, 3}) {
      Status s = reader.Decode(*i, out.data(), out.size(), threads);
      ASSERT_TRUE(s.ok()) << t.name << ": " << s.ToString();
      for (size_t e = 0; e < out.size(); ++e) {
        ASSERT_EQ(out[e], model.expected[k][e]) << t.name << " element " << e;
      }
    }
    // Row ranges and single weights agree with the whole.
    const uint64_t rows = t.rows(), row = t.row_size();
    if (rows >= 3 && row > 0) {
      std::vector<float> part(row * 2);
      ASSERT_TRUE(reader.DecodeRows(*i, 1, 3, part.data(), part.size()).ok());
      for (uint64_t e = 0; e < part.size(); ++e) ASSERT_EQ(part[e], model.expected[k][row + e]);
    }
    if (!out.empty()) {
      const uint64_t last = out.size() - 1;
      Result<float> w = reader.DecodeWeight(*i, last);
      ASSERT_TRUE(w.ok());
      EXPECT_EQ(*w, model.expected[k][last]);
      EXPECT_TRUE(reader.DecodeWeight(*i, out.size()).status().IsOutOfRange());
    }
  }
  std::vector<Status> problems = reader.Verify();
  for (const Status& p : problems) ADD_FAILURE() << p.ToString();
}

TEST(ContainerTest, EveryTensorKindRoundTripsThroughEveryPath) {
  SampleModel model;
  const std::vector<uint8_t> bytes = SampleFileBytes(/*small=*/false, &model);
  const std::string dir = TempDir("roundtrip");
  const std::string path = dir + "/model.wl";

  // Path writer: same bytes as the stream writer.
  {
    WriterOptions options;
    options.producer_version = "test";
    auto w = Writer::Create(path, options);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    testing_util::WriteSampleModel(&*w, false);
    ASSERT_TRUE(w->Finish().ok());
  }
  EXPECT_EQ(testing_util::ReadFileBytes(path), bytes) << "path and stream writers differ";

  for (bool mmap : {true, false}) {
    ReaderOptions options;
    options.use_mmap = mmap;
    auto reader = Reader::Open(path, options);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_EQ(reader->is_mapped(), mmap);
    ExpectModel(*reader, model);
  }
  // A caller's buffer, deliberately misaligned.
  std::vector<uint8_t> shifted(bytes.size() + 3);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 3);
  auto reader = Reader::OpenBuffer(shifted.data() + 3, bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ExpectModel(*reader, model);

  // What the index says.
  const Reader& r = *reader;
  EXPECT_EQ(r.format_major(), kFormatMajor);
  EXPECT_EQ(r.producer_name(), "weightless");
  EXPECT_EQ(r.producer_version(), "test");
  EXPECT_EQ(
      r.required_features(),
      static_cast<uint64_t>(Feature::kZstd) | static_cast<uint64_t>(Feature::kRibbon) |
          static_cast<uint64_t>(Feature::kBloomier) | static_cast<uint64_t>(Feature::kPackedCodes) |
          static_cast<uint64_t>(Feature::kFloat16) | static_cast<uint64_t>(Feature::kBFloat16) |
          static_cast<uint64_t>(Feature::kInt8) | static_cast<uint64_t>(Feature::kZstdIndex) |
          static_cast<uint64_t>(Feature::kRibbonMix32));
  EXPECT_EQ(r.format_minor(), 1);
  const TensorInfo& fc1 = r.tensor(*r.FindTensor("fc1"));
  EXPECT_EQ(fc1.storage, Storage::kRetrieval);
  EXPECT_EQ(fc1.retrieval_kind, RetrievalKind::kRibbon);
  EXPECT_EQ(fc1.retrieval_hash, RetrievalHash::kMix32);
  EXPECT_EQ(r.tensor(*r.FindTensor("fc2")).retrieval_hash, RetrievalHash::kXxh3);
  EXPECT_EQ(r.tensor(*r.FindTensor("fc3")).retrieval_hash, RetrievalHash::kXxh3);
  EXPECT_EQ(fc1.code_bits, 4);
  EXPECT_EQ(fc1.centroids.size(), 7u);
  EXPECT_EQ(fc1.retrain.encode_order, 0);
  EXPECT_EQ(fc1.retrain.epochs_after, 3);
  EXPECT_FLOAT_EQ(fc1.retrain.accuracy_after_retraining, 0.89f);
  EXPECT_GT(fc1.stats.kept, 0u);
  EXPECT_EQ(fc1.section_offset % 64, 0u);
  EXPECT_EQ(r.tensor(*r.FindTensor("fc2")).codec, Codec::kZstd);
  EXPECT_TRUE(r.FindTensor("nope").status().IsNotFound());
  ASSERT_NE(r.FindMetadata("architecture"), nullptr);
  EXPECT_EQ(std::get<std::string>(*r.FindMetadata("architecture")), "LeNet-300-100");
  EXPECT_EQ(std::get<int64_t>(*r.FindMetadata("epochs")), 12);
  EXPECT_EQ(std::get<double>(*r.FindMetadata("baseline_accuracy")), 0.8912);
  EXPECT_EQ(std::get<bool>(*r.FindMetadata("retrained")), true);
  EXPECT_EQ(r.FindMetadata("missing"), nullptr);
  fs::remove_all(dir);
}

TEST(ContainerTest, IndexIsCompressedWhenSmallerAndReadsEitherWay) {
  SampleModel model;
  const std::vector<uint8_t> compressed = SampleFileBytes(false, &model);
  testing_util::VectorOutputStream out;
  WriterOptions options;
  options.producer_version = "test";
  options.compress_index = false;
  auto w = Writer::ToStream(&out, options);
  ASSERT_TRUE(w.ok());
  testing_util::WriteSampleModel(&*w, false);
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_LT(compressed.size(), out.bytes.size());
  for (const std::vector<uint8_t>* bytes :
       std::vector<const std::vector<uint8_t>*>{&compressed, &out.bytes}) {
    auto r = Reader::OpenBuffer(bytes->data(), bytes->size());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((r->required_features() & static_cast<uint64_t>(Feature::kZstdIndex)) != 0,
              bytes == &compressed);
    ExpectModel(*r, model);
  }
}

TEST(ContainerTest, WritesToAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<uint8_t> received;
  std::thread drain([&] {
    uint8_t buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) received.insert(received.end(), buf, buf + n);
  });
  {
    std::unique_ptr<OutputStream> out = NewFdOutputStream(fds[1]);
    WriterOptions options;
    options.producer_version = "test";
    auto w = Writer::ToStream(out.get(), options);
    ASSERT_TRUE(w.ok());
    testing_util::WriteSampleModel(&*w, false);
    ASSERT_TRUE(w->Finish().ok());
  }
  ::close(fds[1]);
  drain.join();
  ::close(fds[0]);
  EXPECT_EQ(received, SampleFileBytes(false));
}

// The one atomic output of the library and the tools: the permissions a plain create
// would give, or those of the file it replaces; a symbolic link is replaced, not followed.
TEST(ContainerTest, AtomicFileOutputPermissionsAndLinks) {
  const std::string dir = TempDir("atomic-mode");
  auto mode = [](const std::string& p) {
    return static_cast<unsigned>(fs::status(p).permissions() & fs::perms::mask);
  };
  auto write = [](const std::string& p, const std::string& text) {
    auto out = AtomicFileOutput::Create(p, /*sync=*/false);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    if (!out.ok()) return;
    EXPECT_TRUE((*out)->Write(text.data(), text.size()).ok());
    EXPECT_TRUE((*out)->Commit().ok());
    EXPECT_FALSE((*out)->Commit().ok()) << "commit twice";
  };
  const mode_t old_mask = ::umask(022);
  write(dir + "/new", "a");
  EXPECT_EQ(mode(dir + "/new"), 0644u);
  ::umask(077);
  write(dir + "/private", "b");
  EXPECT_EQ(mode(dir + "/private"), 0600u);
  ::umask(022);
  fs::permissions(dir + "/private",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);  // 0640
  write(dir + "/private", "c");
  EXPECT_EQ(mode(dir + "/private"), 0640u) << "the replaced file's permissions are kept";
  EXPECT_EQ(testing_util::ReadFileBytes(dir + "/private"), (std::vector<uint8_t>{'c'}));
  fs::create_symlink(dir + "/new", dir + "/link");
  write(dir + "/link", "d");
  EXPECT_FALSE(fs::is_symlink(dir + "/link"));
  EXPECT_EQ(testing_util::ReadFileBytes(dir + "/new"), (std::vector<uint8_t>{'a'}));
  {
    auto out = AtomicFileOutput::Create(dir + "/new", false);
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE((*out)->Write("zz", 2).ok());
    (*out)->Abandon();
    EXPECT_FALSE((*out)->Commit().ok());
  }
  EXPECT_EQ(testing_util::ReadFileBytes(dir + "/new"), (std::vector<uint8_t>{'a'}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 3)
      << "a temporary file was left behind";
  EXPECT_TRUE(AtomicFileOutput::Create("", false).status().IsInvalidArgument());
  EXPECT_TRUE(AtomicFileOutput::Create(dir + "/", false).status().IsInvalidArgument());
  ::umask(old_mask);
}

TEST(ContainerTest, WriterIsAtomic) {
  const std::string dir = TempDir("atomic");
  const std::string path = dir + "/model.wl";
  // Abandoned: nothing appears.
  {
    auto w = Writer::Create(path);
    ASSERT_TRUE(w.ok());
    testing_util::WriteSampleModel(&*w, true);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir)) << "a temporary file was left behind";

  // An existing file stays untouched until Finish.
  testing_util::WriteFileBytes(path, {1, 2, 3});
  {
    WriterOptions options;
    options.producer_version = "test";
    auto w = Writer::Create(path, options);
    ASSERT_TRUE(w.ok());
    testing_util::WriteSampleModel(&*w, true);
    EXPECT_EQ(testing_util::ReadFileBytes(path), (std::vector<uint8_t>{1, 2, 3}));
    ASSERT_TRUE(w->Finish().ok());
    EXPECT_TRUE(w->Finish().IsInvalidArgument()) << "Finish twice";
  }
  EXPECT_EQ(testing_util::ReadFileBytes(path), SampleFileBytes(true));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  // A writer killed mid-write leaves no file at the target (and, with O_TMPFILE, no
  // temporary file either).
  const std::string killed = dir + "/killed.wl";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto w = Writer::Create(killed);
    if (!w.ok()) ::_exit(2);
    testing_util::WriteSampleModel(&*w, false);
    ::raise(SIGKILL);  // dies before Finish
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(fs::exists(killed));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  // An unwritable place fails cleanly.
  auto bad = Writer::Create(dir + "/no/such/dir/model.wl");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsIOError()) << bad.status().ToString();
  fs::remove_all(dir);
}

TEST(ContainerTest, WriterRefusesBadInput) {
  testing_util::VectorOutputStream out;
  auto w = Writer::ToStream(&out);
  ASSERT_TRUE(w.ok());
  Writer& writer = *w;
  const float v[4] = {1, 2, 3, 4};
  EXPECT_TRUE(writer.AddDense("", {4}, v).IsInvalidArgument());
  EXPECT_TRUE(writer.AddDense(std::string("a\0b", 3), {4}, v).IsInvalidArgument());
  EXPECT_TRUE(writer.AddDense("\xff\xfe", {4}, v).IsInvalidArgument());
  EXPECT_TRUE(writer.AddDense("x", {1, 1, 1, 1, 1, 1, 1, 1, 1}, v).IsInvalidArgument());
  EXPECT_TRUE(writer.AddDense("x", {uint64_t{1} << 40, uint64_t{1} << 20}, v).IsOutOfRange());
  EXPECT_TRUE(writer.AddDense("x", {4}, v, DType::kInt8, Codec::kNone, 0.0f).IsInvalidArgument());
  ASSERT_TRUE(writer.AddDense("x", {4}, v).ok());
  EXPECT_NE(writer.AddDense("x", {4}, v).ToString().find("already used"), std::string::npos);
  const uint64_t keys[] = {1};
  const uint16_t codes[] = {1};
  RetrievalOptions o;
  o.value_bits = 2;
  auto table = RetrievalTable::Build(4, keys, codes, 1, o);
  ASSERT_TRUE(table.ok());
  auto copy = [&] { return *RetrievalTable::FromBytes(table->bytes()); };
  EXPECT_TRUE(EncodedSection::Retrieval({5}, copy(), {0.5f}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::Retrieval({4}, copy(), {1, 2, 3, 4}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::Retrieval({4}, copy(), {NAN}).status().IsInvalidArgument());
  const uint16_t packed[] = {0, 3, 1, 0};
  EXPECT_TRUE(
      EncodedSection::PackedCodes({4}, packed, 2, {0.5f, 1.0f}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::PackedCodes({4}, packed, 0, {0.5f}).status().IsInvalidArgument());
  EXPECT_TRUE(writer.SetMetadata("", int64_t{1}).IsInvalidArgument());
  ASSERT_TRUE(writer.SetMetadata("k", int64_t{1}).ok());
  ASSERT_TRUE(writer.SetMetadata("k", std::string("replaced")).ok());
  ASSERT_TRUE(writer.Finish().ok());
  auto reader = Reader::OpenBuffer(out.bytes.data(), out.bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->tensor_count(), 1u);
  ASSERT_EQ(reader->metadata().size(), 1u);
  EXPECT_EQ(std::get<std::string>(reader->metadata()[0].value), "replaced");
}

TEST(ContainerTest, HalfPrecisionConversionsRoundTripEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f))));
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), h) << h;
    const float b = BFloat16ToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(b)) {
      ASSERT_EQ(FloatToBFloat16(b), h) << h;
    }
  }
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);            // rounds to infinity
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3C00);  // ties to even
  EXPECT_EQ(FloatToHalf(5.9604645e-08f), 0x0001);      // smallest subnormal
  EXPECT_EQ(FloatToBFloat16(1.00390625f), 0x3F80);     // ties to even
}

// The one int8 rule: QuantizeInt8 / DefaultInt8Scale / RoundToStored give exactly what
// a reader decodes from a file the writer made with the same scale.
TEST(ContainerTest, RoundToStoredIsWhatTheFileReadsBack) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(QuantizeInt8(0.5f, 1.0f), 0);  // to nearest even
  EXPECT_EQ(QuantizeInt8(1.5f, 1.0f), 2);
  EXPECT_EQ(QuantizeInt8(-500.0f, 1.0f), -127);  // clamped; -128 is never written
  EXPECT_EQ(QuantizeInt8(nan, 1.0f), -127);
  const float finite_max[] = {0.5f, -2.54f, nan, inf, 1.0f};
  EXPECT_EQ(DefaultInt8Scale(finite_max, 5), 2.54f / 127.0f);  // non-finite values ignored
  const float zeros[] = {0.0f, -0.0f};
  EXPECT_EQ(DefaultInt8Scale(zeros, 2), 1.0f);
  EXPECT_EQ(DefaultInt8Scale(nullptr, 0), 1.0f);
  const float subnormal[] = {std::numeric_limits<float>::denorm_min(), 0.0f};
  EXPECT_EQ(DefaultInt8Scale(subnormal, 2), 1.0f);  // largest / 127 would round to 0

  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> values(300);
  for (float& v : values) v = normal(rng);
  values[7] = -0.0f;
  for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8}) {
    const float scale = DefaultInt8Scale(values.data(), values.size());
    testing_util::VectorOutputStream out;
    auto writer = Writer::ToStream(&out);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->AddDense("v", {300}, values.data(), dtype, Codec::kNone, scale).ok());
    ASSERT_TRUE(writer->Finish().ok());
    auto reader = Reader::OpenBuffer(out.bytes.data(), out.bytes.size());
    ASSERT_TRUE(reader.ok());
    std::vector<float> decoded(300);
    ASSERT_TRUE(reader->Decode(0, decoded.data(), decoded.size()).ok());
    std::vector<float> rounded = values;
    RoundToStored(rounded.data(), rounded.size(), dtype, scale);
    for (size_t i = 0; i < values.size(); ++i) {
      uint32_t a, b;  // bit for bit: -0 and +0 differ
      std::memcpy(&a, &rounded[i], 4);
      std::memcpy(&b, &decoded[i], 4);
      ASSERT_EQ(a, b) << DTypeName(dtype) << " at " << i;
    }
  }
}

// Every truncation is refused; every single-byte change is refused at open or found by
// Verify, and never crashes (the suite runs under ASan+UBSan).
TEST(ContainerTest, EveryTruncationAndByteFlipIsCaught) {
  const std::vector<uint8_t> bytes = SampleFileBytes(/*small=*/true);
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = Reader::OpenBuffer(bytes.data(), len);
    ASSERT_FALSE(r.ok()) << "truncated to " << len;
  }
  size_t at_open = 0, at_verify = 0;
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::vector<uint8_t> damaged = bytes;
      damaged[pos] ^= flip;
      auto r = Reader::OpenBuffer(damaged.data(), damaged.size());
      if (!r.ok()) {
        ++at_open;
        EXPECT_NE(r.status().detail(), 0) << r.status().ToString();
        continue;
      }
      if (pos == 10 || pos == 11) {  // the minor version: any minor version reads
        EXPECT_NE(r->format_minor(), kFormatMinor);
        continue;
      }
      std::vector<Status> problems = r->Verify();
      ASSERT_FALSE(problems.empty()) << "flip 0x" << std::hex << int(flip) << " at byte "
                                     << std::dec << pos << " went unnoticed";
      ++at_verify;
      // Decoding a damaged file reports an error or decodes; it never crashes.
      for (size_t i = 0; i < r->tensor_count(); ++i) {
        std::vector<float> out(r->tensor(i).element_count());
        (void)r->Decode(i, out.data(), out.size());
      }
    }
  }
  EXPECT_GT(at_open, 0u);
  EXPECT_GT(at_verify, 0u);
}

// The zstd expansion limit (spec/FORMAT.md, "zstd") is inclusive: a section of `size`
// stored bytes may claim raw_size = 32768 * size + 2^20, which passes at open (and fails
// at first use, where the frame declares its true size); 4 bytes more are refused at open.
TEST(ContainerTest, ZstdExpansionLimitIsInclusive) {
  testing_util::VectorOutputStream stream;
  auto w = Writer::ToStream(&stream);
  ASSERT_TRUE(w.ok());
  std::vector<float> v(256);
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k % 7);
  ASSERT_TRUE(w->AddDense("z", {256}, v.data(), DType::kFloat32, Codec::kZstd).ok());
  ASSERT_TRUE(w->Finish().ok());
  const uint64_t stored = testing_util::UnpackIndex(stream.bytes)->sections[0].size();
  const uint64_t limit = FileLimits::kMaxZstdExpansion * stored + (uint64_t{1} << 20);
  auto claiming = [&](uint64_t raw) {  // a float32 tensor of raw / 4 elements
    return testing_util::WithIndex(stream.bytes, [raw](fb::IndexT& idx) {
      idx.tensors[0]->shape = {raw / 4};
      idx.sections[0].mutate_raw_size(raw);
    });
  };
  const std::vector<uint8_t> at_limit = claiming(limit);
  auto r = Reader::OpenBuffer(at_limit.data(), at_limit.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<float> out(limit / 4);
  EXPECT_EQ(ErrorOf(r->Decode(0, out.data(), out.size())), FileError::kCodecError);
  const std::vector<uint8_t> over = claiming(limit + 4);
  auto refused = Reader::OpenBuffer(over.data(), over.size());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorOf(refused.status()), FileError::kLimitExceeded) << refused.status().ToString();
}

// A newer writer may append fields to the index; this reader still reads the file.
// An unknown required feature is refused by name.
TEST(ContainerTest, SchemaEvolution) {
  SampleModel model;
  const std::vector<uint8_t> bytes = SampleFileBytes(true, &model);
  // Simulate a newer writer: rebuild the index with an extra scalar field of id 7, which
  // this reader's schema does not have (its vtable slot is 4 + 2 * 7 = 18).
  std::unique_ptr<fb::IndexT> index = testing_util::UnpackIndex(bytes);
  flatbuffers::FlatBufferBuilder nb;
  {
    auto producer = fb::Producer::Pack(nb, index->producer.get());
    std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
    for (auto& t : index->tensors) tensors.push_back(fb::Tensor::Pack(nb, t.get()));
    std::vector<flatbuffers::Offset<fb::MetadataEntry>> metadata;
    for (auto& m : index->metadata) metadata.push_back(fb::MetadataEntry::Pack(nb, m.get()));
    std::vector<flatbuffers::Offset<fb::RequiredFeature>> features;
    for (auto& f : index->required_features) {
      features.push_back(fb::RequiredFeature::Pack(nb, f.get()));
    }
    auto sections = nb.CreateVectorOfStructs(index->sections);
    auto tv = nb.CreateVector(tensors);
    auto mv = nb.CreateVector(metadata);
    auto fv = nb.CreateVector(features);
    const auto start = nb.StartTable();
    nb.AddElement<uint64_t>(18, 0xFEEDFACEull, 0);
    nb.AddOffset(fb::Index::VT_REQUIRED_FEATURES, fv);
    nb.AddOffset(fb::Index::VT_METADATA, mv);
    nb.AddOffset(fb::Index::VT_TENSORS, tv);
    nb.AddOffset(fb::Index::VT_SECTIONS, sections);
    nb.AddOffset(fb::Index::VT_PRODUCER, producer);
    nb.AddElement<uint16_t>(fb::Index::VT_FORMAT_MINOR, 7, 0);
    nb.AddElement<uint16_t>(fb::Index::VT_FORMAT_MAJOR, kFormatMajor, 0);
    fb::FinishIndexBuffer(nb, flatbuffers::Offset<fb::Index>(nb.EndTable(start)));
  }
  std::vector<uint8_t> newer = testing_util::ReplaceIndexBytes(
      bytes, std::vector<uint8_t>(nb.GetBufferPointer(), nb.GetBufferPointer() + nb.GetSize()));
  // The newer writer states its minor version 7 in the header too (the index repeats it).
  StoreLE16(newer.data() + 10, 7);
  auto r = Reader::OpenBuffer(newer.data(), newer.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format_minor(), 7);
  ExpectModel(*r, model);

  // An unknown required feature, named in the index, is refused by name.
  const uint64_t future_bit = uint64_t{1} << 20;
  std::vector<uint8_t> future = testing_util::WithIndex(
      bytes,
      [](fb::IndexT& idx) {
        auto f = std::make_unique<fb::RequiredFeatureT>();
        f->bit = 20;
        f->name = "ribbon-v2";
        idx.required_features.push_back(std::move(f));
      },
      static_cast<int64_t>(
          static_cast<uint64_t>(
              Reader::OpenBuffer(bytes.data(), bytes.size()).value().required_features()) |
          future_bit));
  auto refused = Reader::OpenBuffer(future.data(), future.size());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsNotSupported());
  EXPECT_EQ(ErrorOf(refused.status()), FileError::kUnknownFeature);
  EXPECT_NE(refused.status().ToString().find("'ribbon-v2' (bit 20)"), std::string::npos)
      << refused.status().ToString();
}

TEST(ContainerTest, EightThreadsDecodingAgreeWithOne) {
  SampleModel model;
  const std::vector<uint8_t> bytes = SampleFileBytes(false, &model);
  for (bool mmap : {true, false}) {
    const std::string dir = TempDir("threads");
    testing_util::WriteFileBytes(dir + "/m.wl", bytes);
    ReaderOptions options;
    options.use_mmap = mmap;
    auto reader = Reader::Open(dir + "/m.wl", options);
    ASSERT_TRUE(reader.ok());
    const Reader& r = *reader;
    std::vector<std::vector<std::vector<float>>> results(8);
    std::vector<std::thread> threads;
    for (int th = 0; th < 8; ++th) {
      threads.emplace_back([&, th] {
        for (size_t i = 0; i < r.tensor_count(); ++i) {
          std::vector<float> out(r.tensor(i).element_count());
          if (!r.Decode(i, out.data(), out.size(), 1 + th % 2).ok()) out.clear();
          results[th].push_back(std::move(out));
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int th = 0; th < 8; ++th) {
      for (size_t i = 0; i < r.tensor_count(); ++i) {
        const size_t k = static_cast<size_t>(
            std::find(model.names.begin(), model.names.end(), r.tensor(i).name) -
            model.names.begin());
        ASSERT_EQ(results[th][i], model.expected[k]) << "thread " << th << " " << r.tensor(i).name;
      }
    }
    fs::remove_all(dir);
  }
}

TEST(ContainerTest, DecodeArgumentsAreChecked) {
  const std::vector<uint8_t> bytes = SampleFileBytes(true);
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(reader.ok());
  const Reader& r = *reader;
  std::vector<float> out(10);
  EXPECT_TRUE(r.Decode(r.tensor_count(), out.data(), 10).IsOutOfRange());
  EXPECT_TRUE(r.Decode(0, out.data(), 10).IsInvalidArgument());
  EXPECT_TRUE(r.DecodeRows(0, 2, 1, out.data(), 0).IsOutOfRange());
  EXPECT_TRUE(r.DecodeRows(0, 0, 100, out.data(), 0).IsOutOfRange());
  EXPECT_TRUE(r.DecodeRows(0, 0, 1, out.data(), 3).IsInvalidArgument());
  // A larger buffer is fine (the C API's rule too): exactly the tensor's values are
  // written.
  std::vector<float> roomy(100, -7.0f);
  ASSERT_EQ(r.tensor(0).element_count(), 60u);
  EXPECT_TRUE(r.Decode(0, roomy.data(), roomy.size()).ok());
  EXPECT_EQ(roomy[60], -7.0f);
  std::fill(roomy.begin(), roomy.end(), -7.0f);
  EXPECT_TRUE(r.DecodeRows(0, 0, 1, roomy.data(), roomy.size()).ok());
  EXPECT_EQ(roomy[9], *r.DecodeWeight(0, 9));
  EXPECT_EQ(roomy[10], -7.0f);  // row 0 is 10 values
  auto missing = Reader::Open("/nonexistent/file.wl");
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_NE(missing.status().ToString().find("/nonexistent/file.wl"), std::string::npos);
}

}  // namespace
}  // namespace weightless
