#pragma once
// Strict safetensors reader and atomic writer. No torch dependency: tensors are raw bytes
// plus dtype and shape; src/io/tensor_bridge converts to and from torch::Tensor.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ladder::safetensors {

enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(Dtype dtype);
const char* dtype_name(Dtype dtype);  // "F32", ...
Dtype parse_dtype(const std::string& name);  // throws FormatError on an unknown name

struct TensorInfo {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// A validated safetensors file: header length vs file size, JSON, dtypes, shape x dtype size
// == byte range, ranges inside the data section and not overlapping. Memory-mapped when
// opened from a path.
class File {
 public:
  static File open(const std::string& path);
  // Parses an in-memory image; `label` names it in error messages.
  static File from_bytes(std::vector<uint8_t> bytes, const std::string& label);

  const std::string& path() const { return label_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws FormatError naming the file
  const uint8_t* data(const TensorInfo& info) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Storage;
  std::shared_ptr<Storage> storage_;
  std::string label_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* data_section_ = nullptr;
  static File parse(std::shared_ptr<Storage> storage, const std::string& label);
};

// A tensor to write: the bytes must stay valid until write() returns.
struct TensorView {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// Writes atomically (temp file in the same directory, fsync, rename). Tensors are stored in
// name order; throws Error on duplicate names or a byte size that does not match the shape.
void write(const std::string& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata = {});
std::vector<uint8_t> serialize(const std::vector<TensorView>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

// A Hugging Face model directory's weights: model.safetensors, or the shards listed by
// model.safetensors.index.json ("weight_map": name -> shard file). Also accepts a path to a
// single .safetensors file.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& path);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  const uint8_t* data(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;  // for error messages

 private:
  std::string path_;  // the index or single file, for error messages
  std::vector<File> files_;
  std::map<std::string, std::size_t> owner_;  // tensor name -> index in files_
  std::size_t owner_index(const std::string& name) const;  // throws LoadError naming path_
};

}  // namespace ladder::safetensors
