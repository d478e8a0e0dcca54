// Image-feature .h5 files whose storage HDF5 would follow or allocate blindly: each is refused
// with the file and the reason before any value is read, while a chunked, compressed dataset
// (what h5py writes with compression="gzip") still reads. The files are written here with
// HDF5's C API, as a corrupt or hostile file would declare them.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "expect_error.h"
#include "ladder/data/vl/features.h"
#include "ladder/error.h"

namespace {

using ladder::test::contains;
using ladder::test::error_of;

// A scratch folder of {id}.h5 files, removed at the end.
class Hdf5Storage : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "ladder_h5_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes {id}.h5 holding dataset "{id}/features" of `dims`; `tune` adjusts its creation
  // properties; `values` (when given) are written as float32.
  void write(const std::string& id, std::vector<hsize_t> dims, hid_t type,
             const std::function<void(hid_t)>& tune, const std::vector<float>* values = nullptr,
             std::vector<hsize_t> max_dims = {}) {
    const std::string path = dir_ + "/" + id + ".h5";
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(file, 0) << path;
    const hid_t group = H5Gcreate2(file, id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                         max_dims.empty() ? nullptr : max_dims.data());
    const hid_t creation = H5Pcreate(H5P_DATASET_CREATE);
    if (tune) tune(creation);
    const hid_t dataset = H5Dcreate2(group, "features", type, space, H5P_DEFAULT, creation, H5P_DEFAULT);
    ASSERT_GE(dataset, 0) << path;
    if (values) ASSERT_GE(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values->data()), 0);
    H5Dclose(dataset);
    H5Pclose(creation);
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
  }

  std::string refusal(const std::string& id) {
    const auto source = ladder::data::open_feature_source(dir_);
    return error_of<ladder::FormatError>([&] { source->read(id); });
  }

  std::string dir_;
};

const std::vector<float> kFour = {1.0f, -2.0f, 3.5f, 0.25f};

TEST_F(Hdf5Storage, ChunkedCompressedReads) {
  ASSERT_GT(H5Zfilter_avail(H5Z_FILTER_DEFLATE), 0) << "Debian's libhdf5 has zlib";
  std::vector<float> grid(49 * 2);
  for (std::size_t i = 0; i < grid.size(); ++i) grid[i] = static_cast<float>(i) * 0.5f;
  write("gzip", {49, 2}, H5T_IEEE_F32LE, [](hid_t creation) {
    const hsize_t chunk[2] = {7, 2};
    H5Pset_chunk(creation, 2, chunk);
    H5Pset_deflate(creation, 6);
  }, &grid);
  const ladder::data::FeatureMatrix m = ladder::data::open_feature_source(dir_)->read("gzip");
  EXPECT_EQ(m.rows, 49);
  EXPECT_EQ(m.cols, 2);
  EXPECT_EQ(m.values, grid);
}

TEST_F(Hdf5Storage, HugeChunkIsRefused) {
  // 2^27 values per chunk: HDF5 would allocate 512 MiB for a 2 x 2 dataset.
  write("chunky", {2, 2}, H5T_IEEE_F32LE, [](hid_t creation) {
    const hsize_t chunk[2] = {hsize_t{1} << 14, hsize_t{1} << 13};
    H5Pset_chunk(creation, 2, chunk);
  }, nullptr, {H5S_UNLIMITED, H5S_UNLIMITED});
  const std::string message = refusal("chunky");
  EXPECT_TRUE(contains(message, "chunky.h5") && contains(message, "chunk shape [16384, 8192]")) << message;
}

TEST_F(Hdf5Storage, UnwrittenDatasetIsRefused) {
  write("unwritten", {2, 2}, H5T_IEEE_F32LE, nullptr);
  const std::string message = refusal("unwritten");
  EXPECT_TRUE(contains(message, "unwritten.h5") && contains(message, "never written")) << message;
}

TEST_F(Hdf5Storage, ExternalStorageIsRefused) {
  // The values would come from another file on disk, wherever the list points.
  const std::string outside = dir_ + "/outside.bin";
  std::ofstream(outside, std::ios::binary) << std::string(16, '\x3f');
  write("external", {2, 2}, H5T_IEEE_F32LE, [&](hid_t creation) { H5Pset_external(creation, outside.c_str(), 0, 16); });
  const std::string message = refusal("external");
  EXPECT_TRUE(contains(message, "external.h5") && contains(message, "external files")) << message;
}

TEST_F(Hdf5Storage, UnusualFloatWidthIsRefused) {
  const hid_t wide = H5Tcopy(H5T_NATIVE_LDOUBLE);
  if (H5Tget_size(wide) == 8) GTEST_SKIP() << "long double is float64 on this platform";
  write("wide", {2, 2}, wide, nullptr, &kFour);
  H5Tclose(wide);
  const std::string message = refusal("wide");
  EXPECT_TRUE(contains(message, "wide.h5") && contains(message, "float width")) << message;
}

TEST_F(Hdf5Storage, ImplausibleShapeIsRefused) {
  // 2^27 values: the shape is refused before anything is allocated for it.
  write("huge", {hsize_t{1} << 14, hsize_t{1} << 13}, H5T_IEEE_F32LE, nullptr);
  const std::string message = refusal("huge");
  EXPECT_TRUE(contains(message, "huge.h5") && contains(message, "implausibly large shape [16384, 8192]")) << message;
}

TEST_F(Hdf5Storage, ChunkLengthBeyondTheFileIsRefused) {
  // One compressed chunk whose length in the chunk index (a version-1 B-tree key: 4-byte size,
  // 4-byte filter mask, then one 8-byte offset per dimension plus one) is altered to 2 GiB, as
  // a corrupt file would have it: HDF5 would allocate that much to read the chunk.
  std::vector<float> values(16 * 16);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 7);
  write("stretched", {16, 16}, H5T_IEEE_F32LE, [](hid_t creation) {
    const hsize_t chunk[2] = {16, 16};
    H5Pset_chunk(creation, 2, chunk);
    H5Pset_deflate(creation, 6);
  }, &values);
  const std::string path = dir_ + "/stretched.h5";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  hsize_t stored = 0;
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "stretched/features", H5P_DEFAULT);
    stored = H5Dget_storage_size(dataset);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  ASSERT_GT(stored, 0u);
  std::string key(32, '\0');
  for (int b = 0; b < 4; ++b) key[b] = static_cast<char>((stored >> (8 * b)) & 0xff);
  const std::size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos) << "chunk key of " << stored << " bytes not found";
  ASSERT_EQ(bytes.find(key, at + 1), std::string::npos) << "chunk key not unique";
  const char two_gib[4] = {'\0', '\0', '\0', '\x80'};
  bytes.replace(at, 4, two_gib, 4);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;

  const std::string message = refusal("stretched");
  EXPECT_TRUE(contains(message, "stretched.h5") && contains(message, "storage of 2147483648 bytes")) << message;
}

}  // namespace
