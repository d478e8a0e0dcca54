#pragma once
// llama2.c checkpoints (Karpathy's legacy format, what run.c reads) as Hugging Face folders.
#include <map>
#include <string>

#include <torch/torch.h>

#include "ladder/models/llama/config.h"

namespace ladder {

struct Llama2cCheckpoint {
  LlamaConfig config;
  // Hugging Face names and layout: wq/wk rows permuted from llama2.c's adjacent-pair rotary
  // order into rotate_half's (first half of each head, then second).
  std::map<std::string, torch::Tensor> tensors;
};

// Validates the header and that the file holds exactly the tensors it announces; a
// FormatError names the file and what is wrong.
Llama2cCheckpoint read_llama2c(const std::string& path);

// Writes DIR/model.safetensors then DIR/config.json (each atomically); refuses a DIR that
// already holds either. With `tokenizer_path` (llama2.c's tokenizer file, e.g. tok512.bin,
// whose vocabulary must be the model's) it first writes the tokenizer as Hugging Face's
// tokenizer.json, tokenizer_config.json and special_tokens_map.json. Returns the config written.
LlamaConfig convert_llama2c(const std::string& path, const std::string& out_dir, const std::string& tokenizer_path = "");

}  // namespace ladder
