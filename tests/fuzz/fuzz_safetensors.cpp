// libFuzzer target: the strict safetensors reader (safetensors::File::from_bytes, which shares
// File::parse with File::open). Every tensor a file accepts is read whole through data(), so
// ASan sees any range the validation lets through; then the file is written back with
// serialize() and must parse to the same tensors and metadata.
#include <cstring>
#include <vector>

#include "fuzz_common.h"
#include "ladder/io/safetensors.h"

namespace st = ladder::safetensors;

namespace {

void round_trip(const st::File& file) {
  std::vector<st::TensorView> views;
  for (const st::TensorInfo& info : file.tensors()) {
    views.push_back({info.name, info.dtype, info.shape, file.data(info),
                     static_cast<std::size_t>(info.nbytes())});
  }
  std::vector<uint8_t> bytes;
  try {
    bytes = st::serialize(views, file.metadata());
  } catch (const std::exception& error) {
    ladder_fuzz::fail(std::string("serialize() refused a file the reader accepted: ") + error.what());
  }
  try {
    const st::File again = st::File::from_bytes(std::move(bytes), "round-trip");
    if (again.tensors().size() != file.tensors().size()) ladder_fuzz::fail("round trip: tensor count");
    if (again.metadata() != file.metadata()) ladder_fuzz::fail("round trip: metadata");
    for (const st::TensorInfo& info : file.tensors()) {
      const st::TensorInfo& other = again.info(info.name);
      if (other.dtype != info.dtype || other.shape != info.shape || other.nbytes() != info.nbytes() ||
          std::memcmp(again.data(other), file.data(info), info.nbytes()) != 0) {
        ladder_fuzz::fail("round trip changed tensor " + info.name);
      }
    }
  } catch (const std::exception& error) {
    ladder_fuzz::fail(std::string("the reader refused serialize()'s output: ") + error.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  ladder_fuzz::guarded([&] {
    const st::File file = st::File::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
    std::size_t checksum = file.metadata().size();
    for (const st::TensorInfo& info : file.tensors()) {
      const st::TensorInfo& found = file.info(info.name);
      if (!file.contains(info.name) || &found != &info) ladder_fuzz::fail("info() of a listed tensor");
      checksum += static_cast<std::size_t>(info.numel()) + st::dtype_size(info.dtype);
      const uint8_t* bytes = file.data(info);
      for (uint64_t i = 0; i < info.nbytes(); ++i) checksum += bytes[i];
    }
    ladder_fuzz::consume(checksum);
    round_trip(file);
  });
  return 0;
}
