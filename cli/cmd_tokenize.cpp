// `ladder tokenize --tokenizer spiece.model TEXT...`: sentencepiece's pieces of each text, then
// </s> (the contract of the golden tokenization files). --parse-special also turns
// `<extra_id_N>`, `</s>`, `<pad>` and `<unk>` written in the text into their single ids, as
// Hugging Face's T5Tokenizer does (and as ladder's own span-corruption pretraining needs).
// A Llama-family tokenizer (sentencepiece BPE tokenizer.model, a tokenizer.json, or llama2.c's
// tokenizer .bin) prints what Hugging Face's tokenizer gives: <s> or the post-processor's tokens
// first, no end token.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/tokenizer/llama_tokenizer.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "validators.h"

namespace ladder::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  int64_t max_length = -1;  // -1 = no limit
  bool parse_special = false;
  std::vector<std::string> texts;
};

void print_ids(const std::vector<int64_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  std::cout << line << "\n";
}

// Llama-family tokenizers; false when `o.tokenizer` is T5's (a unigram model).
bool run_decoder_only_tokenize(const TokenizeOptions& o) {
  const std::string extension = std::filesystem::path(o.tokenizer).extension().string();
  if (extension != ".json" && extension != ".bin" && !LlamaTokenizer::is_bpe_model(o.tokenizer)) return false;
  if (o.parse_special) throw UsageError("--parse-special is T5's; " + o.tokenizer + " is a Llama-family tokenizer");
  const std::shared_ptr<TextTokenizer> tokenizer = load_causal_lm_tokenizer(o.tokenizer);
  for (const auto& text : o.texts) {
    std::vector<int64_t> ids = tokenizer->encode_input(text);
    if (o.max_length > 0 && static_cast<int64_t>(ids.size()) > o.max_length) ids.resize(o.max_length);
    print_ids(ids);
  }
  return true;
}

void run_tokenize(const TokenizeOptions& o) {
  if (run_decoder_only_tokenize(o)) return;
  T5Tokenizer tokenizer = T5Tokenizer::load(o.tokenizer);
  for (const auto& text : o.texts) {
    std::vector<int64_t> ids;
    if (o.parse_special) {
      ids = tokenizer.encode(text, o.max_length);
    } else {
      ids = tokenizer.encode_plain(text);
      if (o.max_length > 0 && static_cast<int64_t>(ids.size()) >= o.max_length) ids.resize(o.max_length - 1);
      ids.push_back(tokenizer.eos_id());
    }
    print_ids(ids);
  }
}

}  // namespace

void add_tokenize_command(CLI::App& root) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* app = root.add_subcommand("tokenize", "Print the token ids of each text (one line per text, </s> included)");
  app->add_option("--tokenizer", options->tokenizer,
                  "spiece.model (T5), tokenizer.model (sentencepiece BPE: Llama 2), tokenizer.json (Llama 2, Llama 3, "
                  "SmolLM, Qwen2) or llama2.c's tokenizer .bin (tok512.bin)")
      ->required();
  app->add_option("--max-length", options->max_length, "cut to at most N ids, </s> included")->check(whole_number(1, kMaxCount));
  app->add_flag("--parse-special", options->parse_special,
                "recognise <extra_id_N>, </s>, <pad>, <unk> in the text as single tokens (Hugging Face behaviour)");
  app->add_option("text", options->texts, "texts to tokenize")->required();
  app->callback([options] { run_tokenize(*options); });
}

}  // namespace ladder::cli
