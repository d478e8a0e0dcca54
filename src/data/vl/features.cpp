#include "ladder/data/vl/features.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>

#include "ladder/error.h"
#include "ladder/io/safetensors.h"

namespace ladder::data {

namespace {

// One image's features are far smaller than this (a ViT-L/14 at 336 px gives 577 x 1024, a
// ResNet grid 7 x 7 x 2048): 2^26 values (256 MiB as float32) is a corrupt header, not data. The
// same bound applies to an HDF5 chunk, which the library allocates whole before converting it.
constexpr uint64_t kMaxFeatureValues = uint64_t{1} << 26;

float half_to_float(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

float bfloat16_to_float(uint16_t b) {
  // bfloat16 is the top half of a float32.
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Image ids become file names: one path component, so an id cannot reach outside the folder.
bool usable_as_file_name(const std::string& image_id) {
  return !image_id.empty() && image_id != "." && image_id != ".." &&
         image_id.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

// ---- HDF5 ------------------------------------------------------------------------------------

// The HDF5 library keeps global state (error stacks, open-object tables) and Debian's build is
// not guaranteed thread-safe, so every call into it is serialised; reads are short next to a
// training step.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Owns one HDF5 identifier and closes it on every path out.
class Hdf5Handle {
 public:
  Hdf5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hdf5Handle() {
    if (id_ >= 0) close_(id_);
  }
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;
  bool valid() const { return id_ >= 0; }
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

class Hdf5DirectorySource : public FeatureSource {
 public:
  explicit Hdf5DirectorySource(std::string directory) : directory_(std::move(directory)) {}

  std::string path() const override { return directory_; }

  bool contains(const std::string& image_id) const override {
    if (!usable_as_file_name(image_id) || !std::filesystem::is_regular_file(file_of(image_id))) return false;
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    silence_hdf5();
    Hdf5Handle file(H5Fopen(file_of(image_id).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) return false;
    // H5Lexists checks only the last link, so the group is checked before the dataset.
    return H5Lexists(file.get(), image_id.c_str(), H5P_DEFAULT) > 0 &&
           H5Lexists(file.get(), dataset_of(image_id).c_str(), H5P_DEFAULT) > 0;
  }

  FeatureMatrix read(const std::string& image_id) const override {
    if (!usable_as_file_name(image_id))
      throw LoadError("no features for image " + quoted(image_id) + " in " + directory_ +
                      ": not usable as a file name");
    const std::string file_path = file_of(image_id);
    if (!std::filesystem::is_regular_file(file_path))
      throw LoadError("no features for image " + quoted(image_id) + ": " + file_path + " not found");
    const std::string dataset_name = dataset_of(image_id);
    const std::string where = file_path + ", dataset \"" + dataset_name + "\"";

    std::lock_guard<std::mutex> lock(hdf5_mutex());
    silence_hdf5();
    Hdf5Handle file(H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) throw FormatError(file_path + ": not a readable HDF5 file (image " + quoted(image_id) + ")");
    if (H5Lexists(file.get(), image_id.c_str(), H5P_DEFAULT) <= 0 ||
        H5Lexists(file.get(), dataset_name.c_str(), H5P_DEFAULT) <= 0)
      throw LoadError("no features for image " + quoted(image_id) + ": " + file_path + " has no dataset \"" +
                      dataset_name + "\" (the authors' layout: {image_id}/features)");
    Hdf5Handle dataset(H5Dopen2(file.get(), dataset_name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) throw FormatError(where + ": cannot be opened as a dataset");

    Hdf5Handle type(H5Dget_type(dataset.get()), H5Tclose);
    if (!type.valid() || H5Tget_class(type.get()) != H5T_FLOAT)
      throw FormatError(where + ": expected floating-point features (float16/32/64)");
    const std::size_t type_size = H5Tget_size(type.get());
    if (type_size != 2 && type_size != 4 && type_size != 8)
      throw FormatError(expected_found(where + ": float width", "2, 4 or 8 bytes (float16/32/64)",
                                       std::to_string(type_size) + " bytes"));
    Hdf5Handle space(H5Dget_space(dataset.get()), H5Sclose);
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank != 2)
      throw FormatError(expected_found(where + ": shape", "rank 2 [L, D]", "rank " + std::to_string(rank)));
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    check_shape(where, dims[0], dims[1]);
    check_storage(where, dataset.get(), std::filesystem::file_size(file_path));

    FeatureMatrix matrix;
    matrix.rows = static_cast<int64_t>(dims[0]);
    matrix.cols = static_cast<int64_t>(dims[1]);
    matrix.values.resize(static_cast<std::size_t>(dims[0] * dims[1]));
    // HDF5 converts float16 / float64 on the way (its float-to-float conversion).
    if (H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, matrix.values.data()) < 0)
      throw FormatError(where + ": HDF5 could not read the values (truncated or corrupt file?)");
    return matrix;
  }

  // What HDF5 would do before ladder sees a value: follow an external-file list or a virtual
  // mapping to other files, allocate a whole chunk (or as many bytes as a chunk's recorded
  // length says), or invent fill values for storage that was never written. Features are
  // stored in the file itself, so each of these is refused.
  static void check_storage(const std::string& where, hid_t dataset, uintmax_t file_bytes) {
    Hdf5Handle creation(H5Dget_create_plist(dataset), H5Pclose);
    if (!creation.valid()) throw FormatError(where + ": unreadable storage properties (corrupt file?)");
    if (H5Pget_external_count(creation.get()) != 0)
      throw FormatError(where + ": values kept in external files; features must be stored in the .h5 file itself");
    const H5D_layout_t layout = H5Pget_layout(creation.get());
    if (layout == H5D_CHUNKED) {
      hsize_t chunk[2] = {0, 0};
      if (H5Pget_chunk(creation.get(), 2, chunk) != 2 || chunk[0] == 0 || chunk[1] == 0 ||
          chunk[0] > kMaxFeatureValues / chunk[1])
        throw FormatError(where + ": implausible chunk shape [" + std::to_string(chunk[0]) + ", " +
                          std::to_string(chunk[1]) + "] (corrupt file?)");
    } else if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT) {
      throw FormatError(where + ": storage layout " + std::to_string(static_cast<int>(layout)) +
                        " (virtual or unknown); expected contiguous, chunked or compact");
    }
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    if (H5Dget_space_status(dataset, &status) < 0 || status == H5D_SPACE_STATUS_ERROR)
      throw FormatError(where + ": storage status unreadable (corrupt file?)");
    if (status == H5D_SPACE_STATUS_NOT_ALLOCATED)
      throw FormatError(where + ": no values stored (the dataset was created but never written)");
    // The sum of the chunks' recorded lengths: one beyond the file's size is corrupt.
    const hsize_t stored = H5Dget_storage_size(dataset);
    if (stored > file_bytes)
      throw FormatError(where + ": storage of " + std::to_string(stored) + " bytes recorded in a file of " +
                        std::to_string(file_bytes) + " bytes (truncated or corrupt file?)");
  }

  static void check_shape(const std::string& where, uint64_t rows, uint64_t cols) {
    if (rows == 0 || cols == 0)
      throw FormatError(expected_found(where + ": shape", "[L, D] with L, D >= 1",
                                       "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]"));
    if (rows > kMaxFeatureValues / cols)
      throw FormatError(where + ": implausibly large shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  }

 private:
  std::string directory_;

  std::string file_of(const std::string& image_id) const {
    return (std::filesystem::path(directory_) / (image_id + ".h5")).string();
  }
  static std::string dataset_of(const std::string& image_id) { return image_id + "/features"; }
  static std::string quoted(const std::string& image_id) { return "\"" + image_id + "\""; }
  // HDF5 prints its error stack to stderr by default; failures become exceptions here instead.
  static void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};

// ---- safetensors -----------------------------------------------------------------------------

class SafetensorsSource : public FeatureSource {
 public:
  explicit SafetensorsSource(const std::string& path) : file_(safetensors::File::open(path)) {}

  std::string path() const override { return file_.path(); }
  bool contains(const std::string& image_id) const override { return file_.contains(image_id); }

  FeatureMatrix read(const std::string& image_id) const override {
    if (!file_.contains(image_id))
      throw LoadError("no features for image \"" + image_id + "\": " + file_.path() + " has no tensor of that name");
    const safetensors::TensorInfo& info = file_.info(image_id);
    const std::string where = file_.path() + ", tensor \"" + image_id + "\"";
    if (info.shape.size() != 2)
      throw FormatError(expected_found(where + ": shape", "rank 2 [L, D]", "rank " + std::to_string(info.shape.size())));
    Hdf5DirectorySource::check_shape(where, static_cast<uint64_t>(info.shape[0]), static_cast<uint64_t>(info.shape[1]));

    FeatureMatrix matrix;
    matrix.rows = info.shape[0];
    matrix.cols = info.shape[1];
    const std::size_t n = static_cast<std::size_t>(matrix.rows * matrix.cols);
    matrix.values.resize(n);
    const uint8_t* bytes = file_.data(info);
    // memcpy per value: the data section makes no alignment promise.
    switch (info.dtype) {
      case safetensors::Dtype::F32:
        std::memcpy(matrix.values.data(), bytes, n * sizeof(float));
        break;
      case safetensors::Dtype::F16:
      case safetensors::Dtype::BF16:
        for (std::size_t i = 0; i < n; ++i) {
          uint16_t half;
          std::memcpy(&half, bytes + 2 * i, 2);
          matrix.values[i] = info.dtype == safetensors::Dtype::F16 ? half_to_float(half) : bfloat16_to_float(half);
        }
        break;
      default:
        throw FormatError(expected_found(where + ": dtype", "F32, F16 or BF16", safetensors::dtype_name(info.dtype)));
    }
    return matrix;
  }

 private:
  safetensors::File file_;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::unique_ptr<FeatureSource> open_feature_source(const std::string& path) {
  if (std::filesystem::is_directory(path)) return std::make_unique<Hdf5DirectorySource>(path);
  if (std::filesystem::is_regular_file(path) && ends_with(path, ".safetensors"))
    return std::make_unique<SafetensorsSource>(path);
  if (!std::filesystem::exists(path)) throw LoadError("image features: " + path + " not found");
  throw LoadError("image features: " + path +
                  " is neither a directory of {image_id}.h5 files nor a .safetensors file");
}

FeatureMatrix pool_grid(const FeatureMatrix& grid, int64_t side) {
  const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(grid.rows))));
  if (grid.rows < 1 || s * s != grid.rows)
    throw FormatError(expected_found("pool_grid: rows", "a square grid (s * s rows, e.g. 49 = 7 x 7)",
                                     std::to_string(grid.rows) + " rows"));
  if (side < 1) throw FormatError(expected_found("pool_grid: side", ">= 1", std::to_string(side)));
  if (static_cast<int64_t>(grid.values.size()) != grid.rows * grid.cols)
    throw FormatError(expected_found("pool_grid: values", std::to_string(grid.rows * grid.cols),
                                     std::to_string(grid.values.size())));
  FeatureMatrix pooled;
  pooled.rows = side * side;
  pooled.cols = grid.cols;
  pooled.values.assign(static_cast<std::size_t>(pooled.rows * pooled.cols), -std::numeric_limits<float>::infinity());
  // Window k of n over s cells: [floor(k*s/n), ceil((k+1)*s/n)), PyTorch's start/end index.
  auto begin = [&](int64_t k) { return k * s / side; };
  auto end = [&](int64_t k) { return ((k + 1) * s + side - 1) / side; };
  for (int64_t i = 0; i < side; ++i) {
    for (int64_t j = 0; j < side; ++j) {
      float* out = &pooled.values[static_cast<std::size_t>((i * side + j) * grid.cols)];
      for (int64_t y = begin(i); y < end(i); ++y) {
        for (int64_t x = begin(j); x < end(j); ++x) {
          const float* in = &grid.values[static_cast<std::size_t>((y * s + x) * grid.cols)];
          for (int64_t c = 0; c < grid.cols; ++c) {
            // NaN propagates, as in PyTorch's max pooling.
            if (std::isnan(in[c]) || in[c] > out[c]) out[c] = in[c];
          }
        }
      }
    }
  }
  return pooled;
}

}  // namespace ladder::data
