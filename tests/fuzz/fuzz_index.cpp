// libFuzzer target: the sharded checkpoint index (model.safetensors.index.json, read by
// safetensors::Checkpoint::open). The input is the index; the scratch folder it is written to
// also holds two valid shards (the layout of tests/core/safetensors_test.cpp's write_sharded)
// and a corrupt one, which the seeds in tests/fuzz/corpus/index name. Every tensor an accepted
// checkpoint lists is read through info(), data() and file_of().
#include <cstdint>

#include "fuzz_common.h"
#include "ladder/io/safetensors.h"

namespace st = ladder::safetensors;

namespace {

const std::string& model_dir() {
  static const std::string dir = [] {
    const float a[] = {1.5f, 2.5f};
    const float b[] = {3.5f};
    const int64_t c[] = {42, 43, 44};
    const std::string& scratch = ladder_fuzz::scratch_dir();
    st::write(scratch + "/model-00001-of-00002.safetensors",
              {{"enc.a", st::Dtype::F32, {2}, a, 8}, {"enc.b", st::Dtype::F32, {1, 1}, b, 4}});
    st::write(scratch + "/model-00002-of-00002.safetensors", {{"dec.c", st::Dtype::I64, {3}, c, 24}});
    const char corrupt[] = "\xff\xff\xff\xff\xff\xff\xff\x7f{}";
    ladder_fuzz::write_scratch("corrupt.safetensors", corrupt, sizeof corrupt - 1);
    return scratch;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string& dir = model_dir();
  ladder_fuzz::write_scratch("model.safetensors.index.json", data, size);
  ladder_fuzz::guarded([&] {
    const st::Checkpoint checkpoint = st::Checkpoint::open(dir);
    std::size_t checksum = 0;
    for (const std::string& name : checkpoint.names()) {
      if (!checkpoint.contains(name)) ladder_fuzz::fail("names() lists a tensor contains() denies");
      const st::TensorInfo& info = checkpoint.info(name);
      const uint8_t* bytes = checkpoint.data(name);
      for (uint64_t i = 0; i < info.nbytes(); ++i) checksum += bytes[i];
      checksum += checkpoint.file_of(name).size();
    }
    ladder_fuzz::consume(checksum);
    checkpoint.info("no such tensor");  // must throw LoadError
    ladder_fuzz::fail("info() of a missing tensor did not throw");
  });
  return 0;
}
