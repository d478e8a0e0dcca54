#include "ladder/models/t5/load.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <map>
#include <set>
#include <sstream>

#include "ladder/error.h"
#include "ladder/models/tensor_io.h"

namespace ladder {
namespace fs = std::filesystem;

namespace {

std::string list_names(const std::vector<std::string>& names, size_t limit = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

}  // namespace

namespace {

// `ready` may take the values instead (a quantised backbone): then `t` is never written, so
// its pages are never touched and the fp32 weight never becomes resident.
void normal_init(torch::nn::Module& owner, torch::Tensor& t, double std, torch::Generator& gen,
                 const WeightReady& ready) {
  // Sample on the CPU in fp32 so the same seed gives the same weights on every device.
  torch::Tensor values = torch::empty(t.sizes(), torch::kFloat).normal_(0.0, std, gen);
  if (!(ready && ready(owner, values))) t.copy_(values);
}

}  // namespace

void init_t5_stack(T5StackImpl& stack, const T5Config& c, torch::Generator& gen, const WeightReady& ready) {
  torch::NoGradGuard no_grad;
  auto init = [&](torch::nn::Module& owner, torch::Tensor& weight, double std) { normal_init(owner, weight, std, gen, ready); };
  // Scales come from `c`, not from the modules' own sizes: LST's side blocks are initialised
  // with the backbone's sizes, as the authors' _init_weights reads the unreduced config.
  const double d = static_cast<double>(c.d_model);
  const double d_kv = static_cast<double>(c.d_kv);
  const double inner = static_cast<double>(c.num_heads) * d_kv;
  for (auto& block : stack.blocks) {
    std::vector<T5Attention> attentions = {block->self_attention->SelfAttention};
    if (block->cross_attention) attentions.push_back(block->cross_attention->EncDecAttention);
    for (auto& attn : attentions) {
      init(*attn->q, attn->q->weight, std::pow(d * d_kv, -0.5));
      init(*attn->k, attn->k->weight, std::pow(d, -0.5));
      init(*attn->v, attn->v->weight, std::pow(d, -0.5));
      init(*attn->o, attn->o->weight, std::pow(inner, -0.5));
      if (attn->relative_attention_bias)
        init(*attn->relative_attention_bias, attn->relative_attention_bias->weight, std::pow(d, -0.5));
    }
    auto& ff = block->feed_forward->DenseReluDense;
    for (auto* wi : {&ff->wi, &ff->wi_0, &ff->wi_1})
      if (*wi) init(**wi, (*wi)->weight, std::pow(d, -0.5));
    init(*ff->wo, ff->wo->weight, std::pow(static_cast<double>(c.d_ff), -0.5));
  }
}

void init_t5_weights(T5ForConditionalGenerationImpl& model, uint64_t seed, const WeightReady& ready) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  normal_init(*model.shared, model.shared->weight, 1.0, gen, ready);
  if (model.lm_head) normal_init(*model.lm_head, model.lm_head->weight, 1.0, gen, ready);
  init_t5_stack(*model.encoder, model.config, gen, ready);
  init_t5_stack(*model.decoder, model.config, gen, ready);
}

void load_weights(torch::nn::Module& module, const safetensors::Checkpoint& checkpoint,
                  const std::vector<std::string>& ignorable,
                  const TakeWeight& take) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, wrong_shape, wrong_dtype, unexpected;
  std::set<std::string> used;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    if (!checkpoint.contains(name)) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    const safetensors::TensorInfo& info = checkpoint.info(name);
    if (info.shape != param.sizes().vec()) {
      wrong_shape.push_back(name + " (checkpoint " + shape_string(info.shape) + ", model " +
                            shape_string(param.sizes()) + ")");
      continue;
    }
    torch::ScalarType stored = to_scalar_type(info.dtype);
    if (!c10::isFloatingType(stored)) {
      wrong_dtype.push_back(name + " (" + safetensors::dtype_name(info.dtype) + ")");
      continue;
    }
    torch::Tensor value = read_tensor(info, checkpoint.data(name));
    if (!(take && take(name, value))) param.copy_(value);
    // This list's handle would otherwise keep a weight that `take` replaced alive.
    param = torch::Tensor();
  }
  for (const auto& name : checkpoint.names()) {
    if (used.count(name)) continue;
    if (std::find(ignorable.begin(), ignorable.end(), name) != ignorable.end()) continue;
    unexpected.push_back(name);
  }
  if (missing.empty() && wrong_shape.empty() && wrong_dtype.empty() && unexpected.empty()) return;
  // Name the file that holds the first problem tensor (shards differ), else the first file.
  std::string where;
  for (const auto* list : {&wrong_shape, &wrong_dtype, &unexpected})
    if (where.empty() && !list->empty()) where = checkpoint.file_of(list->front().substr(0, list->front().find(' ')));
  if (where.empty() && !checkpoint.names().empty()) where = checkpoint.file_of(checkpoint.names().front());
  std::string message = "checkpoint " + where + " does not fit the model:";
  if (!missing.empty()) message += " missing tensors: " + list_names(missing) + ";";
  if (!wrong_shape.empty()) message += " wrong shape: " + list_names(wrong_shape) + ";";
  if (!wrong_dtype.empty()) message += " non-floating dtype: " + list_names(wrong_dtype) + ";";
  if (!unexpected.empty()) message += " unexpected tensors: " + list_names(unexpected) + ";";
  message += " (hint: does config.json describe this checkpoint? wrong base model?)";
  throw LoadError(message);
}

namespace {

// arch:NAME is a published size; arch:DIR and arch:FILE.json take the architecture of a folder
// or config with fresh random weights, which is the baseline that shows what pretraining adds.
T5Config architecture_config(const std::string& name, std::string& tokenizer_path) {
  const fs::path path(name);
  if (fs::is_directory(path)) {
    if (fs::exists(path / "spiece.model")) tokenizer_path = (path / "spiece.model").string();
    return T5Config::from_file((path / "config.json").string());
  }
  if (fs::is_regular_file(path)) return T5Config::from_file(name);
  return T5Config::builtin(name);
}

}  // namespace

namespace {

// Parameters a config describes, counted from its sizes (in double: absurd configs must not overflow).
double estimated_parameters(const T5Config& c) {
  const double d = static_cast<double>(c.d_model), inner = static_cast<double>(c.inner_dim());
  const double attention = 4.0 * d * inner + d;
  const double ffn = (c.is_gated() ? 3.0 : 2.0) * d * static_cast<double>(c.d_ff) + d;
  const double encoder = static_cast<double>(c.num_layers) * (attention + ffn);
  const double decoder = static_cast<double>(c.num_decoder_layers) * (2.0 * attention + ffn);
  const double embeddings = static_cast<double>(c.vocab_size) * d * (c.has_lm_head ? 2.0 : 1.0);
  return embeddings + encoder + decoder + 2.0 * d;
}

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;  // unknown
}

}  // namespace

void check_model_fits(double parameters, double embedding_elements, const std::string& spec, QuantFormat quantization) {
  // Quantised: about 1 (int8) or 0.56 (NF4) bytes a weight, plus the fp32 embedding table that
  // exists until it is quantised.
  const double per_parameter = quantization == QuantFormat::none ? 4.0 : quantization == QuantFormat::int8 ? 1.05 : 0.6;
  const double bytes = parameters * per_parameter + (quantization == QuantFormat::none ? 0.0 : 4.0 * embedding_elements);
  const int64_t available = available_memory_bytes();
  if (available > 0 && bytes > static_cast<double>(available)) {
    char message[256];
    std::snprintf(message, sizeof message,
                  ": this architecture has about %.3g parameters and needs %.1f GiB to build; %.1f GiB of "
                  "memory is available",
                  parameters, bytes / 1073741824.0, static_cast<double>(available) / 1073741824.0);
    throw UsageError(spec + message);
  }
}

void release_freed_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

WeightReady quantize_when_initialised(const ModelOptions& options, IsQuantizable quantizable) {
  if (options.quantization == QuantFormat::none) return nullptr;
  return [options, quantizable = std::move(quantizable)](torch::nn::Module& owner, const torch::Tensor& values) {
    if (!quantizable(owner)) return false;
    quantize_module_weight(owner, options.quantization, options.dtype, values);
    release_freed_memory();
    return true;
  };
}

TakeWeight quantize_when_read(torch::nn::Module& model, const ModelOptions& options, const IsQuantizable& quantizable) {
  if (options.quantization == QuantFormat::none) return nullptr;
  // The weight a checkpoint name fills, for each module that takes quantised weights.
  std::map<std::string, torch::nn::Module*> targets;
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (quantizable(*item.value())) targets[item.key() + ".weight"] = item.value().get();
  return [options, targets = std::move(targets)](const std::string& name, const torch::Tensor& value) {
    auto it = targets.find(name);
    if (it == targets.end()) return false;
    quantize_module_weight(*it->second, options.quantization, options.dtype, value);
    release_freed_memory();
    return true;
  };
}

namespace {

// Quantisation targets: every Linear (projections, lm_head) and the embedding table. The
// relative attention biases and norms are small and stay in the compute dtype.
bool quantizable(const T5ForConditionalGenerationImpl& model, const torch::nn::Module& module) {
  return dynamic_cast<const LinearImpl*>(&module) != nullptr || &module == model.shared.get();
}

// torch::nn::Embedding fills its table with random values when it is built; a quantised model
// replaces the table anyway, so it gets untouched (not yet resident) storage instead.
void drop_initial_table(T5ForConditionalGenerationImpl& model) {
  torch::NoGradGuard no_grad;
  model.shared->weight.set_data(torch::empty(model.shared->weight.sizes(), model.shared->weight.options()));
  release_freed_memory();
}

}  // namespace

LoadedModel load_model(const std::string& spec, const ModelOptions& options) {
  LoadedModel loaded;
  loaded.source = spec;
  if (spec.rfind("arch:", 0) == 0) {
    T5Config config = architecture_config(spec.substr(5), loaded.tokenizer_path);
    check_model_fits(estimated_parameters(config), static_cast<double>(config.vocab_size * config.d_model), spec, options.quantization);
    loaded.model = T5ForConditionalGeneration(config);
    T5ForConditionalGenerationImpl& model = *loaded.model;
    if (options.quantization != QuantFormat::none) drop_initial_table(model);
    init_t5_weights(model, options.seed,
                    quantize_when_initialised(options, [&](const torch::nn::Module& m) { return quantizable(model, m); }));
  } else {
    fs::path dir(spec);
    if (!fs::is_directory(dir))
      throw LoadError(spec + ": not a model directory (expected a Hugging Face folder with config.json, or arch:NAME)");
    T5Config config = T5Config::from_file((dir / "config.json").string());
    safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(spec);
    // "If lm_head.weight is present, it is the head."
    if (checkpoint.contains("lm_head.weight")) config.has_lm_head = true;
    else if (config.has_lm_head)
      throw LoadError(spec + ": config.json says tie_word_embeddings=false but the checkpoint has no lm_head.weight");
    check_model_fits(estimated_parameters(config), static_cast<double>(config.vocab_size * config.d_model), spec, options.quantization);
    loaded.model = T5ForConditionalGeneration(config);
    if (options.quantization != QuantFormat::none) drop_initial_table(*loaded.model);
    T5ForConditionalGenerationImpl& model = *loaded.model;
    load_weights(model, checkpoint, {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"},
                 quantize_when_read(model, options, [&](const torch::nn::Module& m) { return quantizable(model, m); }));
    if (fs::exists(dir / "spiece.model")) loaded.tokenizer_path = (dir / "spiece.model").string();
  }
  loaded.model->to(options.device, options.dtype);
#ifdef __GLIBC__
  // The fp32 tensors each weight was read or initialised into are freed, but glibc keeps the
  // pages of its heap resident; hand them back, or the process would stay as large as fp32.
  if (options.quantization != QuantFormat::none) malloc_trim(0);
#endif
  return loaded;
}

std::string architecture_checksum(const torch::nn::Module& module) {
  // FNV-1a over "name:shape;" of every parameter, in registration order.
  uint64_t hash = 1469598103934665603ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char ch : s) {
      hash ^= ch;
      hash *= 1099511628211ull;
    }
  };
  for (const auto& [name, shape] : logical_parameters(module)) mix(name + ":" + shape_string(shape) + ";");
  std::ostringstream out;
  out << std::hex << hash;
  return out.str();
}

}  // namespace ladder
