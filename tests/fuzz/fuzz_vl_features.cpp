// libFuzzer target: image-feature files (include/ladder/data/vl/features.h). The input is read
//   - as an .h5 file of the {image_id}.h5 folder layout: written once as data.h5 in a scratch
//     folder where {id}.h5 links to it for each id below (the seeds' ids, so that the seed
//     files' "{id}/features" datasets are found), then contains(id) and read(id) for each;
//   - as a .safetensors features file: contains / read of every tensor it names and of the ids.
// Features read are pooled (pool_grid) when their rows form a square grid.
//
// Invariants: only ladder::Error escapes (LoadError / FormatError, as documented); a read
// matrix has rows, cols >= 1 and rows * cols values; read succeeding implies contains; the
// pooled grid has side * side rows of the same width. A crash inside libhdf5 (the stack's top
// frames in libhdf5_serial.so) is HDF5's own bug on a hostile file, not ladder's: report it
// upstream rather than working around it here.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.h"
#include "ladder/data/vl/features.h"
#include "ladder/io/safetensors.h"

namespace {

// The image ids of the seeds (tests/data/vl/features_h5, tests/data/vl_world/features,
// tests/data/vl/features.safetensors).
const char* const kIds[] = {"grid7", "spike", "half", "double", "rank3", "empty", "wrong_name",
                            "text",  "bf16",  "ints", "synth_000000"};

const std::string& h5_dir() {
  static const std::string dir = [] {
    const std::string path = ladder_fuzz::scratch_dir() + "/h5";
    if (::mkdir(path.c_str(), 0700) != 0) ladder_fuzz::fail("mkdir " + path);
    for (const char* id : kIds) {
      const std::string link = path + "/" + id + ".h5";
      if (::symlink("data.h5", link.c_str()) != 0) ladder_fuzz::fail("symlink " + link);
    }
    return path;
  }();
  return dir;
}

template <typename Body>
void only_ladder_errors(const std::string& what, Body&& body) {
  try {
    body();
  } catch (const ladder::Error& error) {
    if (std::string(error.what()).empty()) ladder_fuzz::fail(what + ": empty error message");
  } catch (const std::exception& error) {
    ladder_fuzz::fail(what + " threw " + typeid(error).name() + " (not a ladder::Error): " + error.what());
  }
}

void check_matrix(const std::string& what, const ladder::data::FeatureMatrix& matrix) {
  if (matrix.rows < 1 || matrix.cols < 1) ladder_fuzz::fail(what + ": empty matrix returned");
  if (static_cast<int64_t>(matrix.values.size()) != matrix.rows * matrix.cols)
    ladder_fuzz::fail(what + ": values do not match rows * cols");
  std::size_t checksum = 0;
  for (float value : matrix.values) checksum += std::isfinite(value) ? 1 : 0;
  ladder_fuzz::consume(checksum);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(matrix.rows))));
  if (side * side != matrix.rows || matrix.rows > 4096) return;
  for (int64_t out : {int64_t{1}, (side + 1) / 2, side}) {
    const ladder::data::FeatureMatrix pooled = ladder::data::pool_grid(matrix, out);
    if (pooled.rows != out * out || pooled.cols != matrix.cols ||
        static_cast<int64_t>(pooled.values.size()) != pooled.rows * pooled.cols)
      ladder_fuzz::fail(what + ": pool_grid gave the wrong shape");
  }
}

void read_all(const ladder::data::FeatureSource& source, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    const std::string what = source.path() + " read(\"" + id + "\")";
    bool contained = false;
    only_ladder_errors(what + " contains", [&] { contained = source.contains(id); });
    only_ladder_errors(what, [&] {
      const ladder::data::FeatureMatrix matrix = source.read(id);
      if (!contained) ladder_fuzz::fail(what + ": read succeeded but contains() is false");
      check_matrix(what, matrix);
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::vector<std::string> ids(std::begin(kIds), std::end(kIds));

  // HDF5 folder.
  const std::string& dir = h5_dir();
  ladder_fuzz::write_scratch("h5/data.h5", data, size);
  only_ladder_errors("open_feature_source(" + dir + ")", [&] {
    const auto source = ladder::data::open_feature_source(dir);
    read_all(*source, ids);
  });

  // One .safetensors file: the ids plus every tensor name in it (parsed here as well, so that
  // the names are known even when the source refuses the file).
  const std::string path = ladder_fuzz::write_scratch("features.safetensors", data, size);
  try {
    const auto file = ladder::safetensors::File::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    for (const auto& tensor : file.tensors())
      if (ids.size() < 64) ids.push_back(tensor.name);
  } catch (const ladder::Error&) {
  }
  only_ladder_errors("open_feature_source(" + path + ")", [&] {
    const auto source = ladder::data::open_feature_source(path);
    read_all(*source, ids);
  });
  return 0;
}
