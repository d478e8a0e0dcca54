#include "ladder/tokenizer/text_tokenizer.h"

#include <filesystem>

#include "ladder/tokenizer/byte_bpe_tokenizer.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"
#include "ladder/tokenizer/llama_tokenizer.h"

namespace ladder {

std::shared_ptr<TextTokenizer> load_causal_lm_tokenizer(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".json") return std::make_shared<ByteLevelBpeTokenizer>(ByteLevelBpeTokenizer::load(path));
  if (extension == ".bin") return std::make_shared<Llama2cTokenizer>(Llama2cTokenizer::load(path));
  return std::make_shared<LlamaTokenizer>(LlamaTokenizer::load(path));
}

}  // namespace ladder
