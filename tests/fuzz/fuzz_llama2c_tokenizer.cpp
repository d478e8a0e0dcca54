// libFuzzer target: llama2.c's tokenizer file reader (tok512.bin, Llama 2's tokenizer.bin). A
// file it accepts encodes and decodes a fixed text and the input's last bytes, is written as
// Hugging Face's tokenizer.json, and that file is read back and encodes the fixed text (the
// two readers agree on genuine files, tests/core/llama2c_tokenizer_test.cpp; a fuzzed vocabulary
// may legitimately tell them apart, e.g. by ties of equal scores, so only crashes count here).
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "ladder/tokenizer/byte_bpe_tokenizer.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"

namespace {

// Spaces, a tab, a newline, digits, accents, CJK, an emoji, special-token text, invalid UTF-8.
const char kText[] = "  Once upon a time,\tthere was 42 caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\n<s> x \xFF\xC3 end ";

void exercise(const ladder::Llama2cTokenizer& tokenizer, const std::string& text) {
  const std::vector<int64_t> ids = tokenizer.encode(text, true, true);
  std::size_t checksum = ids.size() + tokenizer.decode(ids).size();
  checksum += tokenizer.decode({0, tokenizer.vocab_size() - 1}).size();
  ladder_fuzz::consume(checksum);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = ladder_fuzz::write_scratch("tokenizer.bin", data, size);
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string tail = bytes.substr(size > 48 ? size - 48 : 0);
  ladder_fuzz::guarded([&] {
    const ladder::Llama2cTokenizer tokenizer = ladder::Llama2cTokenizer::load(path);
    ladder_fuzz::guarded([&] { exercise(tokenizer, kText); });
    ladder_fuzz::guarded([&] { exercise(tokenizer, tail); });
    const std::string dir = ladder_fuzz::scratch_dir() + "/hf";
    std::filesystem::create_directories(dir);
    ladder_fuzz::guarded([&] {
      tokenizer.write_hugging_face_files(dir);
      const auto json = ladder::ByteLevelBpeTokenizer::load(dir + "/tokenizer.json");
      const std::vector<int64_t> ids = json.encode(kText);
      ladder_fuzz::consume(ids.size() + json.decode(ids).size());
    });
  });
  return 0;
}
