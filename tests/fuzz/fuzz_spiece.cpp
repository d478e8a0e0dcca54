// libFuzzer target: the sentencepiece model reader. The input is a serialized ModelProto
// (spiece.model): parse_sentencepiece_model() reads it from memory; a model it accepts is then
// loaded as a T5Tokenizer (from a scratch file: load() takes a path), which builds the
// normaliser's charsmap trie and the unigram model, and the tokenizer encodes and decodes a
// fixed text plus the input's last bytes as text. A BPE model goes through LlamaTokenizer the
// same way.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "ladder/tokenizer/llama_tokenizer.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "sentencepiece_model.h"

namespace {

// Spaces, tabs, NBSP, full-width letters, special tokens, a sentinel, invalid UTF-8.
const char kText[] =
    "  Hello\tworld \xC2\xA0 \xEF\xBC\xA1\xEF\xBC\xA2 </s> x<pad><unk> <extra_id_0> <extra_id_99>"
    " <extra_id_100> caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xFF\xC3 end  ";

void exercise(const ladder::T5Tokenizer& tokenizer, const std::string& text) {
  std::size_t checksum = 0;
  const std::vector<int64_t> ids = tokenizer.encode(text);
  checksum += ids.size() + tokenizer.encode(text, 3).size() + tokenizer.encode(text, 1).size();
  checksum += tokenizer.encode(text, 2, /*add_eos=*/false).size();
  checksum += tokenizer.encode_pieces(text).size() + tokenizer.encode_plain(text).size();
  checksum += tokenizer.decode(ids).size() + tokenizer.decode(ids, /*skip_special_tokens=*/false).size();
  for (const int64_t id : ids) checksum += tokenizer.id_to_piece(id).size();
  checksum += tokenizer.decode({-100, 0, tokenizer.vocab_size() - 1, tokenizer.vocab_size()}).size();
  ladder_fuzz::consume(checksum);
}

void exercise_bpe(const ladder::LlamaTokenizer& tokenizer, const std::string& text) {
  const std::vector<int64_t> ids = tokenizer.encode(text, /*add_bos=*/true);
  std::size_t checksum = ids.size() + tokenizer.encode_pieces(text).size() + tokenizer.decode(ids).size();
  checksum += tokenizer.decode({0, tokenizer.vocab_size() - 1}).size();
  ladder_fuzz::consume(checksum);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  bool parsed = false;
  ladder_fuzz::guarded([&] {
    const auto model = ladder::tokenizer::parse_sentencepiece_model(bytes, "fuzz.model");
    ladder_fuzz::consume(model.pieces.size());
    parsed = true;
  });
  if (!parsed) return 0;
  const std::string path = ladder_fuzz::write_scratch("spiece.model", data, size);
  const std::string tail = bytes.substr(size > 48 ? size - 48 : 0);
  ladder_fuzz::guarded([&] {
    const ladder::LlamaTokenizer tokenizer = ladder::LlamaTokenizer::load(path);
    ladder_fuzz::guarded([&] { exercise_bpe(tokenizer, kText); });
    ladder_fuzz::guarded([&] { exercise_bpe(tokenizer, tail); });
  });
  ladder_fuzz::guarded([&] {
    const ladder::T5Tokenizer tokenizer = ladder::T5Tokenizer::load(path);
    ladder_fuzz::guarded([&] { exercise(tokenizer, kText); });
    ladder_fuzz::guarded([&] { exercise(tokenizer, tail); });
    ladder_fuzz::consume(static_cast<std::size_t>(tokenizer.sentinel_id(0) + tokenizer.pad_id() +
                                                  tokenizer.eos_id() + tokenizer.unk_id()));
  });
  return 0;
}
