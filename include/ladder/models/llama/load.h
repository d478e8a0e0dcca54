#pragma once
// Building a decoder-only model from a Hugging Face folder (config.json + safetensors, sharded
// or not) or `arch:NAME`, and telling which definition a model folder needs.
#include <string>

#include <torch/torch.h>

#include "ladder/models/llama/model.h"
#include "ladder/models/t5/load.h"

namespace ladder {

struct LoadedCausalLM {
  LlamaForCausalLM model{nullptr};
  std::string source;          // the directory or arch:NAME
  std::string tokenizer_path;  // <dir>/tokenizer.model or tokenizer.json when present
};

// `spec` is a directory or arch:NAME (a preset, arch:DIR or arch:CONFIG.json: random weights).
// Strict loading: every tensor must be there with its shape; a tied model's checkpoint may also
// carry lm_head.weight (ignored). Throws LoadError/FormatError naming the file and the problem.
LoadedCausalLM load_causal_lm(const std::string& spec, const ModelOptions& options = {});

// transformers' initialisation (initializer_range 0.02, norms at 1), from a seeded generator.
void init_llama_weights(LlamaForCausalLMImpl& model, uint64_t seed, const WeightReady& ready = nullptr);

enum class ModelFamily { t5, causal_lm };
// From config.json's model_type (a folder, arch:DIR, arch:CONFIG.json) or the preset's name.
ModelFamily model_family(const std::string& spec);

}  // namespace ladder
