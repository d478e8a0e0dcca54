// `ladder convert llama2c FILE [--tokenizer TOK.bin] --out DIR`: other checkpoint formats as Hugging Face folders, so
// that every command reads them the one way it reads downloads.
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "ladder/models/llama/llama2c.h"

namespace ladder::cli {
namespace {

struct ConvertOptions {
  std::string input;
  std::string out;
  std::string tokenizer;
};

void run_llama2c(const ConvertOptions& o) {
  LlamaConfig config = convert_llama2c(o.input, o.out, o.tokenizer);
  std::cout << o.out << ": LlamaForCausalLM, " << config.num_hidden_layers << " layers, hidden " << config.hidden_size
            << ", " << config.num_attention_heads << " heads (" << config.num_key_value_heads << " key/value), vocabulary "
            << config.vocab_size << (config.tie_word_embeddings ? ", tied head" : ", own head")
            << (o.tokenizer.empty() ? "" : ", tokenizer.json") << "\n";
}

}  // namespace

void add_convert_command(CLI::App& root) {
  CLI::App* convert = root.add_subcommand("convert", "Convert a checkpoint of another format into a Hugging Face folder");
  convert->require_subcommand(1);
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* llama2c = convert->add_subcommand(
      "llama2c", "llama2.c's checkpoint (the legacy format run.c reads) -> config.json + model.safetensors "
                 "(LlamaForCausalLM; the rotary rows of wq/wk reordered for Hugging Face's layout)");
  llama2c->add_option("file", options->input, "the .bin checkpoint")->required()->check(CLI::ExistingFile);
  llama2c->add_option("--out", options->out, "folder to write (new, or without config.json/model.safetensors)")
      ->required();
  llama2c->add_option("--tokenizer", options->tokenizer,
                      "llama2.c's tokenizer file for this model (stories260K: tok512.bin), written into the folder as "
                      "Hugging Face's tokenizer.json")
      ->check(CLI::ExistingFile);
  llama2c->callback([options] { run_llama2c(*options); });
}

}  // namespace ladder::cli
