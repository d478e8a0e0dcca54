// Tests for the strict safetensors reader, the atomic writer and the sharded Checkpoint.
#include "ladder/io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ladder/error.h"

namespace st = ladder::safetensors;
namespace fs = std::filesystem;

namespace {

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/ladder_safetensors_test_XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) {
      names.push_back(entry.path().filename());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

// Builds a file image by hand: length prefix, header text as given, `data_size` zero bytes.
std::vector<uint8_t> raw_file(const std::string& header, std::size_t data_size) {
  std::vector<uint8_t> bytes(8);
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(length >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + data_size, 0);
  return bytes;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Runs `action`, which must throw exactly `ErrorType` with a message naming `label` and
// containing `word`.
template <typename ErrorType, typename Action>
void expect_error(Action action, const std::string& label, const std::string& word) {
  try {
    action();
    ADD_FAILURE() << "expected an error mentioning '" << word << "', got none";
  } catch (const ErrorType& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(label), std::string::npos) << "label missing in: " << message;
    EXPECT_NE(message.find(word), std::string::npos) << "'" << word << "' missing in: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
  } catch (const std::exception& error) {
    ADD_FAILURE() << "wrong exception type: " << error.what();
  }
}

void expect_bad_header(const std::string& header, std::size_t data_size, const std::string& word) {
  SCOPED_TRACE(header);
  expect_error<ladder::FormatError>(
      [&] { st::File::from_bytes(raw_file(header, data_size), "crafted.safetensors"); },
      "crafted.safetensors", word);
}

std::vector<uint8_t> pattern_bytes(std::size_t count, uint8_t seed) {
  std::vector<uint8_t> bytes(count);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<uint8_t>(seed + 7 * i);
  return bytes;
}

std::vector<uint8_t> tensor_bytes(const st::File& file, const std::string& name) {
  const st::TensorInfo& info = file.info(name);
  const uint8_t* data = file.data(info);
  return std::vector<uint8_t>(data, data + info.nbytes());
}

const st::Dtype kDtypes[] = {st::Dtype::F64, st::Dtype::F32, st::Dtype::F16, st::Dtype::BF16,
                             st::Dtype::I64, st::Dtype::I32, st::Dtype::I16, st::Dtype::I8,
                             st::Dtype::U8,  st::Dtype::BOOL};

}  // namespace

TEST(SafetensorsDtype, SizesAndNames) {
  const std::pair<const char*, std::size_t> expected[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  for (std::size_t i = 0; i < std::size(kDtypes); ++i) {
    EXPECT_STREQ(st::dtype_name(kDtypes[i]), expected[i].first);
    EXPECT_EQ(st::dtype_size(kDtypes[i]), expected[i].second);
    EXPECT_EQ(st::parse_dtype(expected[i].first), kDtypes[i]);
  }
  expect_error<ladder::FormatError>([] { st::parse_dtype("F8_E4M3"); }, "F8_E4M3", "dtype");
  expect_error<ladder::FormatError>([] { st::parse_dtype("f32"); }, "f32", "dtype");
}

TEST(SafetensorsWriter, ExactBytesOfASmallFile) {
  const float values[] = {1.0f, -2.0f};
  const auto bytes = st::serialize({{"a", st::Dtype::F32, {2}, values, sizeof(values)}});
  // Written out by hand: compact JSON, padded with 2 spaces to 56 bytes, then the floats.
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )";
  ASSERT_EQ(header.size(), 56u);
  std::vector<uint8_t> expected = {56, 0, 0, 0, 0, 0, 0, 0};
  expected.insert(expected.end(), header.begin(), header.end());
  const uint8_t float_bytes[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};  // 1.0f, -2.0f
  expected.insert(expected.end(), std::begin(float_bytes), std::end(float_bytes));
  EXPECT_EQ(bytes, expected);
}

TEST(SafetensorsWriter, RoundTripEveryDtypeWithScalarAndEmptyTensors) {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<st::TensorView> views;
  buffers.reserve(3 * std::size(kDtypes));
  for (st::Dtype dtype : kDtypes) {
    const std::size_t size = st::dtype_size(dtype);
    const std::string name = st::dtype_name(dtype);
    buffers.push_back(pattern_bytes(6 * size, static_cast<uint8_t>(size * 13)));
    views.push_back({"full." + name, dtype, {2, 3}, buffers.back().data(), buffers.back().size()});
    buffers.push_back(pattern_bytes(size, 99));
    views.push_back({"scalar." + name, dtype, {}, buffers.back().data(), buffers.back().size()});
    views.push_back({"empty." + name, dtype, {0, 4}, nullptr, 0});
  }
  const st::File file = st::File::from_bytes(st::serialize(views), "roundtrip");
  ASSERT_EQ(file.tensors().size(), views.size());
  EXPECT_TRUE(file.metadata().empty());
  for (const st::TensorView& view : views) {
    SCOPED_TRACE(view.name);
    ASSERT_TRUE(file.contains(view.name));
    const st::TensorInfo& info = file.info(view.name);
    EXPECT_EQ(info.dtype, view.dtype);
    EXPECT_EQ(info.shape, view.shape);
    EXPECT_EQ(info.nbytes(), view.nbytes);
    const auto* begin = static_cast<const uint8_t*>(view.data);
    EXPECT_EQ(tensor_bytes(file, view.name), std::vector<uint8_t>(begin, begin + view.nbytes));
  }
  EXPECT_EQ(file.info("scalar.F64").numel(), 1);
  EXPECT_EQ(file.info("empty.I8").numel(), 0);
  EXPECT_EQ(file.info("full.BF16").numel(), 6);
}

TEST(SafetensorsWriter, NameOrderContiguousDataAndAlignedHeader) {
  const int32_t b[] = {1, 2, 3};
  const uint8_t a[] = {7};
  const int64_t c[] = {-1};
  const auto bytes = st::serialize({{"zeta", st::Dtype::I64, {1}, c, 8},
                                    {"beta", st::Dtype::I32, {3}, b, 12},
                                    {"alpha", st::Dtype::U8, {1}, a, 1}});
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);  // little-endian host
  EXPECT_EQ((8 + header_size) % 8, 0u);
  const st::File file = st::File::from_bytes(bytes, "order");
  EXPECT_EQ(file.info("alpha").begin, 0u);
  EXPECT_EQ(file.info("beta").begin, 1u);
  EXPECT_EQ(file.info("zeta").begin, 13u);
  EXPECT_EQ(file.info("zeta").end, 21u);
  EXPECT_EQ(bytes.size(), 8 + header_size + 21);
}

TEST(SafetensorsWriter, Metadata) {
  const uint8_t value = 1;
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "a \"quoted\" ü"}};
  const auto bytes = st::serialize({{"x", st::Dtype::BOOL, {1}, &value, 1}}, metadata);
  const std::string text(bytes.begin() + 8, bytes.end());
  EXPECT_EQ(text.rfind(R"({"__metadata__":{"format":"pt",)", 0), 0u) << text;
  EXPECT_EQ(st::File::from_bytes(bytes, "meta").metadata(), metadata);

  const auto plain = st::serialize({{"x", st::Dtype::BOOL, {1}, &value, 1}});
  EXPECT_EQ(std::string(plain.begin(), plain.end()).find("__metadata__"), std::string::npos);
}

TEST(SafetensorsWriter, RejectsBadInput) {
  const float data[4] = {};
  expect_error<ladder::Error>(
      [&] {
        st::serialize({{"w", st::Dtype::F32, {2}, data, 8}, {"w", st::Dtype::F32, {2}, data, 8}});
      },
      "'w'", "twice");
  expect_error<ladder::Error>(
      [&] {
        st::serialize({{"w", st::Dtype::F32, {3}, data, 8}});
      },
      "'w'", "nbytes");
  expect_error<ladder::Error>(
      [&] {
        st::serialize({{"w", st::Dtype::F32, {-2}, data, 8}});
      },
      "'w'", "non-negative");
  expect_error<ladder::Error>(
      [&] {
        st::serialize({{"__metadata__", st::Dtype::F32, {2}, data, 8}});
      },
      "__metadata__", "reserved");
}

TEST(SafetensorsReader, RealFixtureFile) {
  const std::string path = LADDER_TEST_DATA "/fixtures/t5-tiny-v1_0/model.safetensors";
  const st::File file = st::File::open(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.tensors().size(), 47u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const st::TensorInfo& shared = file.info("shared.weight");
  EXPECT_EQ(shared.dtype, st::Dtype::F32);
  EXPECT_EQ(shared.shape, (std::vector<int64_t>{1100, 64}));
  EXPECT_EQ(shared.begin, 593920u);
  EXPECT_EQ(shared.end, 875520u);
  // Values read with Python's struct module from the same file.
  float first[3];
  std::memcpy(first, file.data(shared), sizeof(first));
  EXPECT_FLOAT_EQ(first[0], 0.6226555705070496f);
  EXPECT_FLOAT_EQ(first[1], -0.22265750169754028f);
  EXPECT_FLOAT_EQ(first[2], 0.0947398915886879f);
  float last;
  std::memcpy(&last, file.data(shared) + shared.nbytes() - 4, 4);
  EXPECT_FLOAT_EQ(last, -2.1212005615234375f);

  // The file was written by the Rust safetensors library; our writer reproduces it exactly.
  std::vector<st::TensorView> views;
  for (const st::TensorInfo& info : file.tensors()) {
    views.push_back({info.name, info.dtype, info.shape, file.data(info), info.nbytes()});
  }
  EXPECT_TRUE(st::serialize(views, file.metadata()) == read_bytes(path));
}

TEST(SafetensorsReader, DataOutlivesTheFirstHandle) {
  TempDir dir;
  const int16_t values[] = {5, -6, 7};
  st::write(dir / "w.safetensors", {{"v", st::Dtype::I16, {3}, values, sizeof(values)}});
  st::File copy;
  {
    const st::File original = st::File::open(dir / "w.safetensors");
    copy = original;
  }
  fs::remove(dir / "w.safetensors");  // the mapping stays valid after unlink
  int16_t read[3];
  std::memcpy(read, copy.data(copy.info("v")), sizeof(read));
  EXPECT_EQ(read[0], 5);
  EXPECT_EQ(read[1], -6);
  EXPECT_EQ(read[2], 7);
}

TEST(SafetensorsReader, MissingFileDirectoryAndUnknownTensor) {
  TempDir dir;
  expect_error<ladder::FormatError>([&] { st::File::open(dir / "nope.safetensors"); },
                                    dir / "nope.safetensors", "No such file");
  expect_error<ladder::FormatError>([&] { st::File::open(dir.path()); }, dir.path(), "directory");
  write_bytes(dir / "empty.safetensors", {});
  expect_error<ladder::FormatError>([&] { st::File::open(dir / "empty.safetensors"); },
                                    dir / "empty.safetensors", "truncated");
  const uint8_t one = 1;
  const st::File file = st::File::from_bytes(st::serialize({{"a", st::Dtype::U8, {1}, &one, 1}}),
                                             "small.safetensors");
  expect_error<ladder::FormatError>([&] { file.info("b"); }, "small.safetensors", "'b'");
}

TEST(SafetensorsReader, RejectsMalformedFiles) {
  expect_error<ladder::FormatError>(
      [] {
        st::File::from_bytes({1, 0, 0}, "crafted.safetensors");
      },
      "crafted.safetensors", "truncated");
  {
    std::vector<uint8_t> bytes = raw_file("{}", 0);
    bytes[0] = 200;  // header length 200, but only 2 bytes follow
    expect_error<ladder::FormatError>([&] { st::File::from_bytes(bytes, "crafted.safetensors"); },
                                      "crafted.safetensors", "header length");
  }
  {
    std::vector<uint8_t> bytes = raw_file("{}", 0);
    std::fill(bytes.begin(), bytes.begin() + 8, 0xff);  // 2^64 - 1: must not wrap around
    expect_error<ladder::FormatError>([&] { st::File::from_bytes(bytes, "crafted.safetensors"); },
                                      "crafted.safetensors", "header length");
  }
  expect_bad_header(R"({"a": {"dtype": "F32",)", 0, "JSON");
  expect_bad_header("[1, 2]", 0, "object");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1]}})", 4, "data_offsets");
  expect_bad_header(R"({"a": [1]})", 4, "object");
  expect_bad_header(R"({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4, "dtype");
  expect_bad_header(R"({"a": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4, "dtype");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8,
                    "8 bytes for shape [2]");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}})", 4,
                    "data section");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8,
                    "begin <= end");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})", 8,
                    "data_offsets");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 8,
                    "data_offsets");
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                    R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                    12, "overlap");
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}})", 0,
                    "negative");
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [1.5], "data_offsets": [0, 0]}})", 0,
                    "shape");
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": 3, "data_offsets": [0, 3]}})", 3, "shape");
  // 2^32 * 2^32 wraps to 0 in 64 bits: must be caught, not read as an empty tensor.
  expect_bad_header(
      R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0,
      "overflow");
  expect_bad_header(
      R"({"a": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0,
      "overflow");
  expect_bad_header(
      R"({"a": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 0]}})", 0,
      "overflow");
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [], "data_offsets": [0, 1]},)"
                    R"( "a": {"dtype": "U8", "shape": [], "data_offsets": [1, 2]}})",
                    2, "twice");
  expect_bad_header(R"({"__metadata__": {"format": 1}})", 0, "__metadata__");
  expect_bad_header(R"({"__metadata__": ["pt"]})", 0, "__metadata__");
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [[[1]]], "data_offsets": [0, 1]}})", 1,
                    "nesting");
}

TEST(SafetensorsReader, AcceptsHolesEmptyTensorsAndNullMetadata) {
  const st::File file = st::File::from_bytes(
      raw_file(
          R"({"__metadata__": null, "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]},)"
          R"( "a": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]},)"
          R"( "c": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}})",
          10),
      "holes");
  EXPECT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "a");  // name order, not file order
  EXPECT_EQ(file.info("b").begin, 6u);
  EXPECT_TRUE(file.metadata().empty());
}

TEST(SafetensorsWrite, AtomicReplaceAndCleanFailure) {
  TempDir dir;
  const std::string path = dir / "model.safetensors";
  const uint8_t first[] = {1, 2, 3, 4};
  const uint8_t second[] = {9, 8};
  st::write(path, {{"a", st::Dtype::U8, {4}, first, 4}}, {{"step", "1"}});
  st::write(path, {{"b", st::Dtype::U8, {2}, second, 2}});
  const st::File file = st::File::open(path);
  EXPECT_FALSE(file.contains("a"));
  EXPECT_EQ(tensor_bytes(file, "b"), (std::vector<uint8_t>{9, 8}));
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_EQ(read_bytes(path), st::serialize({{"b", st::Dtype::U8, {2}, second, 2}}));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});

  const std::string missing_dir = dir / "no_such_dir/model.safetensors";
  expect_error<ladder::Error>(
      [&] {
        st::write(missing_dir, {{"b", st::Dtype::U8, {2}, second, 2}});
      },
      missing_dir, "No such file");
  // The rename fails when the target is a non-empty directory; the temp file must go.
  fs::create_directory(dir / "taken");
  write_bytes(dir / "taken/keep", {1});
  expect_error<ladder::Error>(
      [&] {
        st::write(dir / "taken", {{"b", st::Dtype::U8, {2}, second, 2}});
      },
      dir / "taken", "rename");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"model.safetensors", "taken"}));
  // Invalid tensors are refused before anything is written.
  expect_error<ladder::Error>(
      [&] {
        st::write(dir / "bad.safetensors", {{"b", st::Dtype::U8, {3}, second, 2}});
      },
      "'b'", "nbytes");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"model.safetensors", "taken"}));
}

namespace {

// Two shards and an index as Hugging Face writes them.
void write_sharded(const TempDir& dir, const std::string& weight_map_json) {
  const float a[] = {1.5f, 2.5f};
  const float b[] = {3.5f};
  const int64_t c[] = {42, 43, 44};
  st::write(dir / "model-00001-of-00002.safetensors",
            {{"enc.a", st::Dtype::F32, {2}, a, 8}, {"enc.b", st::Dtype::F32, {1, 1}, b, 4}});
  st::write(dir / "model-00002-of-00002.safetensors", {{"dec.c", st::Dtype::I64, {3}, c, 24}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata": {"total_size": 36}, "weight_map": )" << weight_map_json << "}";
}

const char* kGoodWeightMap = R"({"enc.a": "model-00001-of-00002.safetensors",
  "enc.b": "model-00001-of-00002.safetensors", "dec.c": "model-00002-of-00002.safetensors"})";

}  // namespace

TEST(SafetensorsCheckpoint, ShardedDirectory) {
  TempDir dir;
  write_sharded(dir, kGoodWeightMap);
  for (const std::string& path : {dir.path(), dir / "model.safetensors.index.json"}) {
    SCOPED_TRACE(path);
    const st::Checkpoint checkpoint = st::Checkpoint::open(path);
    EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"dec.c", "enc.a", "enc.b"}));
    EXPECT_EQ(checkpoint.info("enc.b").shape, (std::vector<int64_t>{1, 1}));
    float a[2];
    std::memcpy(a, checkpoint.data("enc.a"), 8);
    EXPECT_EQ(a[1], 2.5f);
    int64_t c[3];
    std::memcpy(c, checkpoint.data("dec.c"), 24);
    EXPECT_EQ(c[2], 44);
    EXPECT_EQ(checkpoint.file_of("dec.c"), dir / "model-00002-of-00002.safetensors");
    EXPECT_TRUE(checkpoint.contains("enc.a"));
    EXPECT_FALSE(checkpoint.contains("enc.z"));
    expect_error<ladder::LoadError>([&] { checkpoint.info("enc.z"); }, "index.json", "'enc.z'");
  }
}

TEST(SafetensorsCheckpoint, SingleFileDirectoryAndPath) {
  TempDir dir;
  const uint8_t x[] = {5};
  st::write(dir / "model.safetensors", {{"x", st::Dtype::U8, {1}, x, 1}});
  for (const std::string& path : {dir.path(), dir / "model.safetensors"}) {
    const st::Checkpoint checkpoint = st::Checkpoint::open(path);
    EXPECT_EQ(checkpoint.names(), std::vector<std::string>{"x"});
    EXPECT_EQ(*checkpoint.data("x"), 5);
    EXPECT_EQ(checkpoint.file_of("x"), dir / "model.safetensors");
  }
}

TEST(SafetensorsCheckpoint, Errors) {
  {
    TempDir dir;
    expect_error<ladder::LoadError>([&] { st::Checkpoint::open(dir.path()); }, dir.path(),
                                    "model.safetensors.index.json");
  }
  {
    TempDir dir;
    write_sharded(dir, R"({"enc.a": "model-00001-of-00002.safetensors",
                           "dec.c": "model-00009-of-00002.safetensors"})");
    expect_error<ladder::FormatError>([&] { st::Checkpoint::open(dir.path()); },
                                      "model-00009-of-00002.safetensors", "No such file");
  }
  {
    TempDir dir;
    write_sharded(dir, R"({"enc.a": "model-00001-of-00002.safetensors",
                           "dec.c": "model-00001-of-00002.safetensors"})");
    expect_error<ladder::FormatError>([&] { st::Checkpoint::open(dir.path()); }, "'dec.c'",
                                      "does not hold it");
  }
  {
    TempDir dir;
    write_sharded(dir, kGoodWeightMap);
    const float dup[] = {0.0f};
    st::write(dir / "model-00002-of-00002.safetensors",
              {{"enc.b", st::Dtype::F32, {1}, dup, 4}, {"dec.c", st::Dtype::F32, {1}, dup, 4}});
    expect_error<ladder::FormatError>([&] { st::Checkpoint::open(dir.path()); }, "'enc.b'",
                                      "two shards");
  }
  {
    TempDir dir;
    write_sharded(dir, R"({"enc.a": "../../etc/passwd"})");
    expect_error<ladder::FormatError>([&] { st::Checkpoint::open(dir.path()); }, "index.json",
                                      "shard");
  }
  {
    TempDir dir;
    write_sharded(dir, R"(["not", "a", "map"])");
    expect_error<ladder::FormatError>([&] { st::Checkpoint::open(dir.path()); }, "index.json",
                                      "weight_map");
  }
}

// Random corruption must end in a ladder::Error or a valid file, never a crash or an
// out-of-bounds read (run under AddressSanitizer to check the latter).
TEST(SafetensorsFuzz, MutatedFilesFailCleanly) {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<st::TensorView> views;
  for (st::Dtype dtype : kDtypes) {
    buffers.push_back(pattern_bytes(4 * st::dtype_size(dtype), 3));
    views.push_back({std::string("t.") + st::dtype_name(dtype),
                     dtype,
                     {2, 2},
                     buffers.back().data(),
                     buffers.back().size()});
  }
  const std::vector<uint8_t> valid = st::serialize(views, {{"format", "pt"}});
  uint64_t header_size = 0;
  std::memcpy(&header_size, valid.data(), 8);

  std::mt19937 rng(20240611);
  int parsed = 0;
  int rejected = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::vector<uint8_t> bytes = valid;
    const int mode = static_cast<int>(rng() % 4);
    if (mode == 0) {
      bytes.resize(rng() % bytes.size());
    } else {
      // Mostly hit the length prefix and the header, where the parsing happens.
      const std::size_t limit = mode == 3 ? bytes.size() : 8 + header_size;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        const std::size_t at = rng() % limit;
        bytes[at] = mode == 1 ? static_cast<uint8_t>(rng()) : "0123456789[]{},:\"-"[rng() % 18];
      }
    }
    try {
      const st::File file = st::File::from_bytes(bytes, "fuzz");
      uint64_t checksum = 0;
      for (const st::TensorInfo& info : file.tensors()) {
        const uint8_t* data = file.data(info);
        for (uint64_t i = 0; i < info.nbytes(); ++i) checksum += data[i];
      }
      (void)checksum;
      ++parsed;
    } catch (const ladder::Error&) {
      ++rejected;
    }
  }
  // Both outcomes must occur, or the mutations are not exercising the parser.
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}
