// Strict safetensors reader and atomic writer (format: 8-byte little-endian header length N,
// N bytes of JSON, then the data section). The reader validates everything a later
// memcpy/from_blob relies on, so a corrupt file fails here, by name, instead of crashing later.
#include "ladder/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "ladder/error.h"

namespace ladder::safetensors {
namespace {

using json = nlohmann::json;

// Hugging Face's own reader refuses headers above 100 MB; a bigger value is corruption.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
// A valid header nests at most three containers deep: top object, tensor entry, shape array.
constexpr int kMaxJsonDepth = 3;

constexpr Dtype kAllDtypes[] = {Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64,
                                Dtype::I32, Dtype::I16, Dtype::I8,  Dtype::U8,   Dtype::BOOL};

bool try_parse_dtype(const std::string& name, Dtype* out) {
  for (Dtype dtype : kAllDtypes) {
    if (name == dtype_name(dtype)) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

std::string known_dtypes() {
  std::string names;
  for (Dtype dtype : kAllDtypes) {
    if (!names.empty()) names += ' ';
    names += dtype_name(dtype);
  }
  return names;
}

// Quotes a user-controlled string for a one-line message, cut short so a corrupt header
// cannot flood the terminal.
std::string quoted(const std::string& text) {
  constexpr std::size_t kMax = 80;
  std::string shown = text.size() > kMax ? text.substr(0, kMax) + "..." : text;
  return "'" + shown + "'";
}

// Describes a JSON value without dumping it whole (it may be huge).
std::string describe(const json& value) {
  if (value.is_string()) return "string " + quoted(value.get<std::string>());
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_number_float()) return "number " + value.dump();
  return value.type_name();
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

// numel x element size with overflow checks; false when the product does not fit int64/uint64.
bool checked_nbytes(const std::vector<int64_t>& shape, std::size_t element_size,
                    uint64_t* numel_out, uint64_t* nbytes_out) {
  uint64_t numel = 1;
  bool has_zero = false;
  for (int64_t dim : shape) has_zero = has_zero || dim == 0;
  if (has_zero) {
    numel = 0;
  } else {
    for (int64_t dim : shape) {
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel)) return false;
    }
  }
  if (numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(element_size), &nbytes)) return false;
  *numel_out = numel;
  *nbytes_out = nbytes;
  return true;
}

// Parses the header JSON, refusing duplicate keys (nlohmann would silently keep the last one,
// hiding a corrupt or ambiguous header) and nesting deeper than a valid header needs.
json parse_header_json(const char* begin, const char* end, const std::string& label) {
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw FormatError(
              label + ": " +
              expected_found("header JSON nesting", "at most 3 levels", "deeper nesting"));
        }
        if (event == json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_per_object.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!keys_per_object.back().insert(key).second) {
          throw FormatError(label + ": header JSON has the key " + quoted(key) +
                            " twice (expected unique tensor names and fields)");
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(begin, end, callback);
  } catch (const json::exception& error) {
    throw FormatError(label + ": header is not valid JSON (" + error.what() +
                      "); the file is corrupt or not a safetensors file");
  }
}

TensorInfo parse_entry(const std::string& name, const json& entry, uint64_t data_size,
                       const std::string& label) {
  const std::string where = label + ": tensor " + quoted(name);
  if (!entry.is_object()) {
    throw FormatError(where + ": " + expected_found("header entry", "an object", describe(entry)));
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) {
      throw FormatError(where + ": missing field \"" + field +
                        "\" (expected dtype, shape and data_offsets)");
    }
  }
  TensorInfo info;
  info.name = name;

  const json& dtype = entry["dtype"];
  if (!dtype.is_string() || !try_parse_dtype(dtype.get<std::string>(), &info.dtype)) {
    throw FormatError(where + ": " +
                      expected_found("dtype", "one of " + known_dtypes(), describe(dtype)));
  }

  const json& shape = entry["shape"];
  if (!shape.is_array()) {
    throw FormatError(where + ": " +
                      expected_found("shape", "an array of integers", describe(shape)));
  }
  for (const json& dim : shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned()) {
      throw FormatError(
          where + ": " +
          expected_found("shape dimension", "a non-negative integer", "negative " + describe(dim)));
    }
    if (!dim.is_number_unsigned()) {
      throw FormatError(where + ": " +
                        expected_found("shape dimension", "a non-negative integer", describe(dim)));
    }
    uint64_t value = dim.get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw FormatError(where + ": shape dimension " + std::to_string(value) + " overflows int64");
    }
    info.shape.push_back(static_cast<int64_t>(value));
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw FormatError(where + ": " +
                      expected_found("data_offsets", "[begin, end] of non-negative integers",
                                     offsets.is_array() ? offsets.dump() : describe(offsets)));
  }
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  if (info.begin > info.end || info.end > data_size) {
    throw FormatError(
        where + ": " +
        expected_found(
            "data_offsets",
            "0 <= begin <= end <= " + std::to_string(data_size) + " (the data section size)",
            "[" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]",
            "file truncated?"));
  }

  uint64_t numel = 0;
  uint64_t nbytes = 0;
  if (!checked_nbytes(info.shape, dtype_size(info.dtype), &numel, &nbytes)) {
    throw FormatError(where + ": shape " + shape_string(info.shape) +
                      " overflows: its byte size does not fit in 64 bits");
  }
  if (nbytes != info.nbytes()) {
    throw FormatError(where + ": " +
                      expected_found("byte size",
                                     std::to_string(nbytes) + " bytes for shape " +
                                         shape_string(info.shape) + " of " + dtype_name(info.dtype),
                                     std::to_string(info.nbytes()) + " bytes in data_offsets"));
  }
  return info;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& label) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;  // the Rust writer may emit null for "no metadata"
  if (!value.is_object()) {
    throw FormatError(label + ": " +
                      expected_found("__metadata__", "an object of strings", describe(value)));
  }
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) {
      throw FormatError(label + ": __metadata__ key " + quoted(item.key()) + ": " +
                        expected_found("value", "a string", describe(item.value())));
    }
    metadata[item.key()] = item.value().get<std::string>();
  }
  return metadata;
}

// The writer's plan: validated tensors in name order with their offsets, and the padded header.
struct Layout {
  std::vector<const TensorView*> order;
  std::string header;  // JSON padded with spaces so the data section starts 8-byte aligned
  uint64_t data_size = 0;
};

Layout plan(const std::vector<TensorView>& tensors,
            const std::map<std::string, std::string>& metadata) {
  Layout layout;
  for (const TensorView& tensor : tensors) layout.order.push_back(&tensor);
  std::sort(layout.order.begin(), layout.order.end(),
            [](const TensorView* a, const TensorView* b) { return a->name < b->name; });

  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + json(metadata).dump();
  for (std::size_t i = 0; i < layout.order.size(); ++i) {
    const TensorView& tensor = *layout.order[i];
    const std::string what = "safetensors write: tensor " + quoted(tensor.name);
    if (tensor.name == "__metadata__") {
      throw Error(what + ": the name is reserved for the metadata block");
    }
    if (i > 0 && tensor.name == layout.order[i - 1]->name) {
      throw Error(what + " given twice (expected unique names)");
    }
    for (int64_t dim : tensor.shape) {
      if (dim < 0) {
        throw Error(what + ": " +
                    expected_found("shape", "non-negative dimensions", shape_string(tensor.shape)));
      }
    }
    uint64_t numel = 0;
    uint64_t nbytes = 0;
    if (!checked_nbytes(tensor.shape, dtype_size(tensor.dtype), &numel, &nbytes)) {
      throw Error(what + ": shape " + shape_string(tensor.shape) + " overflows 64 bits");
    }
    if (nbytes != tensor.nbytes) {
      throw Error(what + ": " +
                  expected_found("nbytes",
                                 std::to_string(nbytes) + " for shape " +
                                     shape_string(tensor.shape) + " of " + dtype_name(tensor.dtype),
                                 std::to_string(tensor.nbytes)));
    }
    if (nbytes > 0 && tensor.data == nullptr) throw Error(what + ": data is null");
    const uint64_t begin = layout.data_size;
    layout.data_size += nbytes;
    // Same field order and compact form as the Rust writer, so files compare byte for byte.
    if (header.size() > 1) header += ',';
    header += json(tensor.name).dump() + ":{\"dtype\":\"" + dtype_name(tensor.dtype) +
              "\",\"shape\":" + json(tensor.shape).dump() + ",\"data_offsets\":[" +
              std::to_string(begin) + "," + std::to_string(layout.data_size) + "]}";
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  layout.header = std::move(header);
  return layout;
}

void put_u64_le(uint64_t value, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

// Removes the temp file unless the rename went through, whatever path leaves write().
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::FILE*& file() { return file_; }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::F64:
    case Dtype::I64:
      return 8;
    case Dtype::F32:
    case Dtype::I32:
      return 4;
    case Dtype::F16:
    case Dtype::BF16:
    case Dtype::I16:
      return 2;
    case Dtype::I8:
    case Dtype::U8:
    case Dtype::BOOL:
      return 1;
  }
  throw Error("safetensors: invalid Dtype value " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::F64:
      return "F64";
    case Dtype::F32:
      return "F32";
    case Dtype::F16:
      return "F16";
    case Dtype::BF16:
      return "BF16";
    case Dtype::I64:
      return "I64";
    case Dtype::I32:
      return "I32";
    case Dtype::I16:
      return "I16";
    case Dtype::I8:
      return "I8";
    case Dtype::U8:
      return "U8";
    case Dtype::BOOL:
      return "BOOL";
  }
  throw Error("safetensors: invalid Dtype value " + std::to_string(static_cast<int>(dtype)));
}

Dtype parse_dtype(const std::string& name) {
  Dtype dtype;
  if (!try_parse_dtype(name, &dtype)) {
    throw FormatError(
        expected_found("safetensors dtype", "one of " + known_dtypes(), quoted(name)));
  }
  return dtype;
}

int64_t TensorInfo::numel() const {
  // parse_entry checked that the product fits in int64, but only up to a zero dimension: the
  // other dimensions of an empty tensor may be anything (e.g. [2^62, 4, 0]), so stop there.
  for (int64_t dim : shape) {
    if (dim == 0) return 0;
  }
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

// Owns the bytes behind a File: a read-only mapping or an in-memory buffer. Shared by copies
// of the File so pointers from data() stay valid while any copy lives.
struct File::Storage {
  std::vector<uint8_t> buffer;
  void* mapping = nullptr;
  std::size_t mapping_size = 0;
  const uint8_t* bytes = nullptr;
  std::size_t size = 0;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (mapping != nullptr) ::munmap(mapping, mapping_size);
  }
};

File File::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(path + ": cannot open safetensors file: " + errno_text());
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const std::string reason = errno_text();
    ::close(fd);
    throw FormatError(path + ": cannot stat safetensors file: " + reason);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw FormatError(path + ": " +
                      expected_found("safetensors file", "a regular file",
                                     S_ISDIR(info.st_mode) ? "a directory" : "a special file"));
  }
  auto storage = std::make_shared<Storage>();
  storage->size = static_cast<std::size_t>(info.st_size);
  if (storage->size > 0) {  // mmap refuses length 0; parse() reports the empty file
    void* mapping = ::mmap(nullptr, storage->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const std::string reason = errno_text();
      ::close(fd);
      throw FormatError(path + ": cannot memory-map safetensors file: " + reason);
    }
    storage->mapping = mapping;
    storage->mapping_size = storage->size;
    storage->bytes = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);  // the mapping keeps the file contents reachable
  return parse(std::move(storage), path);
}

File File::from_bytes(std::vector<uint8_t> bytes, const std::string& label) {
  auto storage = std::make_shared<Storage>();
  storage->buffer = std::move(bytes);
  storage->bytes = storage->buffer.data();
  storage->size = storage->buffer.size();
  return parse(std::move(storage), label);
}

File File::parse(std::shared_ptr<Storage> storage, const std::string& label) {
  const uint64_t size = storage->size;
  if (size < 8) {
    throw FormatError(label + ": " +
                      expected_found("file size", "at least 8 bytes (the header length)",
                                     std::to_string(size) + " bytes",
                                     "truncated or not a safetensors file"));
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | storage->bytes[i];
  if (header_size > size - 8) {
    throw FormatError(
        label + ": " +
        expected_found("header length", "at most " + std::to_string(size - 8) + " (file size - 8)",
                       std::to_string(header_size), "truncated or not a safetensors file"));
  }
  if (header_size > kMaxHeaderBytes) {
    throw FormatError(
        label + ": " +
        expected_found("header length", "at most 100 MB", std::to_string(header_size) + " bytes"));
  }
  const char* header = reinterpret_cast<const char*>(storage->bytes + 8);
  const json root = parse_header_json(header, header + header_size, label);
  if (!root.is_object()) {
    throw FormatError(label + ": " + expected_found("header JSON", "an object", describe(root)));
  }

  File file;
  file.label_ = label;
  const uint64_t data_size = size - 8 - header_size;
  // nlohmann keeps object keys sorted, so tensors_ comes out in name order.
  for (const auto& item : root.items()) {
    if (item.key() == "__metadata__") {
      file.metadata_ = parse_metadata(item.value(), label);
      continue;
    }
    file.index_[item.key()] = file.tensors_.size();
    file.tensors_.push_back(parse_entry(item.key(), item.value(), data_size, label));
  }

  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& info : file.tensors_) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur = *by_offset[i];
    if (cur.begin < prev.end) {
      throw FormatError(label + ": tensors " + quoted(prev.name) + " [" +
                        std::to_string(prev.begin) + ", " + std::to_string(prev.end) + ") and " +
                        quoted(cur.name) + " [" + std::to_string(cur.begin) + ", " +
                        std::to_string(cur.end) + ") overlap (expected disjoint data_offsets)");
    }
  }

  file.data_section_ = storage->bytes + 8 + header_size;
  file.storage_ = std::move(storage);
  return file;
}

bool File::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorInfo& File::info(const std::string& name) const {
  auto found = index_.find(name);
  if (found == index_.end()) {
    throw FormatError(label_ + ": no tensor named " + quoted(name) + " (the file holds " +
                      std::to_string(tensors_.size()) + " tensors)");
  }
  return tensors_[found->second];
}

const uint8_t* File::data(const TensorInfo& info) const {
  // Offsets were validated against this file's data section; reject infos from elsewhere.
  const TensorInfo& own = this->info(info.name);
  if (own.begin != info.begin || own.end != info.end) {
    throw Error(label_ + ": tensor " + quoted(info.name) +
                ": the TensorInfo does not come from this file");
  }
  return data_section_ + own.begin;
}

std::vector<uint8_t> serialize(const std::vector<TensorView>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);
  std::vector<uint8_t> bytes(8 + layout.header.size() + layout.data_size);
  put_u64_le(layout.header.size(), bytes.data());
  std::memcpy(bytes.data() + 8, layout.header.data(), layout.header.size());
  uint8_t* out = bytes.data() + 8 + layout.header.size();
  for (const TensorView* tensor : layout.order) {
    if (tensor->nbytes > 0) std::memcpy(out, tensor->data, tensor->nbytes);
    out += tensor->nbytes;
  }
  return bytes;
}

void write(const std::string& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);  // validate before touching the disk
  const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
  TempFile temp(temp_path);
  auto fail = [&](const std::string& step) {
    throw Error(path + ": cannot write safetensors file (" + step + " " + temp_path +
                "): " + errno_text());
  };
  temp.file() = std::fopen(temp_path.c_str(), "wb");
  if (temp.file() == nullptr) fail("create");
  uint8_t length[8];
  put_u64_le(layout.header.size(), length);
  if (std::fwrite(length, 1, 8, temp.file()) != 8) fail("write");
  if (std::fwrite(layout.header.data(), 1, layout.header.size(), temp.file()) !=
      layout.header.size()) {
    fail("write");
  }
  for (const TensorView* tensor : layout.order) {
    if (tensor->nbytes > 0 &&
        std::fwrite(tensor->data, 1, tensor->nbytes, temp.file()) != tensor->nbytes) {
      fail("write");
    }
  }
  // Data must reach the disk before the rename, or a crash could leave a truncated target.
  if (std::fflush(temp.file()) != 0) fail("flush");
  if (::fsync(::fileno(temp.file())) != 0) fail("fsync");
  std::FILE* handle = temp.file();
  temp.file() = nullptr;
  if (std::fclose(handle) != 0) fail("close");
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) fail("rename");
  temp.commit();
  // Make the rename itself durable; a failure here leaves a complete file, so ignore it.
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace ladder::safetensors
