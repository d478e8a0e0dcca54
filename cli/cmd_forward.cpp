// `ladder forward --model DIR --inputs IN --output OUT [--adapter DIR [--gradients]]`: one
// eval-mode forward pass, written in the layout of the fixtures' golden.safetensors so that
// any reference can be compared with it. With --adapter the backbone is wrapped in that
// method (logits and loss are the method's); --gradients adds grad.NAME of the loss for every
// trainable tensor, NAME as in adapter_model.safetensors.
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/methods/method.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "runtime_options.h"

namespace ladder::cli {
namespace {

struct ForwardOptions {
  std::string model;
  std::string inputs;
  std::string output;
  std::string adapter;
  bool gradients = false;
  RuntimeOptions runtime;
};

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// An integer [B, L] tensor from the inputs file, as int64; undefined when absent and optional.
torch::Tensor id_tensor(const std::map<std::string, torch::Tensor>& tensors, const std::string& key,
                        const std::string& file, bool required) {
  auto it = tensors.find(key);
  if (it == tensors.end()) {
    if (required) throw FormatError(file + ": missing tensor \"" + key + "\" (expected int64 [batch, length])");
    return {};
  }
  const torch::Tensor& t = it->second;
  if (t.scalar_type() != torch::kLong && t.scalar_type() != torch::kInt)
    throw FormatError(expected_found(file + ": tensor \"" + key + "\" dtype", "int64 (or int32)",
                                     std::string(c10::toString(t.scalar_type()))));
  if (t.dim() != 2 || t.size(0) == 0 || t.size(1) == 0)
    throw FormatError(expected_found(file + ": tensor \"" + key + "\" shape", "[batch, length], both > 0", shape_of(t)));
  return t.to(torch::kLong);
}

void check_ids_in_range(const torch::Tensor& ids, const std::string& key, const std::string& file, int64_t vocab,
                        bool allow_ignore) {
  torch::Tensor bad = (ids < 0) | (ids >= vocab);
  if (allow_ignore) bad &= ids != -100;
  if (bad.any().item<bool>()) {
    const int64_t value = ids.masked_select(bad)[0].item<int64_t>();
    throw FormatError(expected_found(file + ": tensor \"" + key + "\" ids",
                                     "ids in [0, " + std::to_string(vocab) + ")" + (allow_ignore ? " or -100" : ""),
                                     std::to_string(value), "inputs made for another vocabulary?"));
  }
}

Seq2SeqBatch read_batch(const std::string& file, int64_t vocab) {
  std::map<std::string, torch::Tensor> tensors = read_safetensors(file);
  Seq2SeqBatch batch;
  batch.input_ids = id_tensor(tensors, "input_ids", file, true);
  batch.attention_mask = id_tensor(tensors, "attention_mask", file, false);
  batch.labels = id_tensor(tensors, "labels", file, false);
  batch.decoder_input_ids = id_tensor(tensors, "decoder_input_ids", file, false);
  if (!batch.labels.defined() && !batch.decoder_input_ids.defined())
    throw FormatError(file + ": needs \"labels\" or \"decoder_input_ids\" for the decoder (neither is present)");
  const int64_t b = batch.input_ids.size(0);
  if (batch.attention_mask.defined()) {
    if (!batch.attention_mask.sizes().equals(batch.input_ids.sizes()))
      throw FormatError(expected_found(file + ": attention_mask shape", "the shape of input_ids " + shape_of(batch.input_ids),
                                       shape_of(batch.attention_mask)));
    if (((batch.attention_mask != 0) & (batch.attention_mask != 1)).any().item<bool>())
      throw FormatError(file + ": attention_mask must hold only 0 and 1");
  }
  for (const auto* key : {"labels", "decoder_input_ids"}) {
    const torch::Tensor& t = std::string(key) == "labels" ? batch.labels : batch.decoder_input_ids;
    if (t.defined() && t.size(0) != b)
      throw FormatError(expected_found(file + ": " + key + " batch size", std::to_string(b) + " (as input_ids)",
                                       shape_of(t)));
  }
  if (batch.labels.defined() && batch.decoder_input_ids.defined() &&
      !batch.labels.sizes().equals(batch.decoder_input_ids.sizes()))
    throw FormatError(expected_found(file + ": decoder_input_ids shape", "the shape of labels " + shape_of(batch.labels),
                                     shape_of(batch.decoder_input_ids)));
  check_ids_in_range(batch.input_ids, "input_ids", file, vocab, false);
  if (batch.decoder_input_ids.defined()) check_ids_in_range(batch.decoder_input_ids, "decoder_input_ids", file, vocab, false);
  if (batch.labels.defined()) check_ids_in_range(batch.labels, "labels", file, vocab, true);
  return batch;
}

auto cpu_float(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat).contiguous(); }

// The method's logits and loss, and with `gradients` the loss's gradient of every trainable
// tensor; eval mode (no dropout) either way.
std::map<std::string, torch::Tensor> method_forward(const ForwardOptions& o, Backbone backbone,
                                                    const Seq2SeqBatch& batch, const torch::Device& device) {
  if (o.gradients && !batch.labels.defined())
    throw UsageError(o.inputs + ": --gradients needs \"labels\" (the loss to differentiate)");
  std::unique_ptr<FineTuningMethod> method =
      load_method(std::move(backbone), o.adapter, backbone_storage(o.runtime.backbone_dtype, o.runtime.precision).dtype);
  method->to(device);
  method->set_training(false);
  std::map<std::string, torch::Tensor> result;
  std::unique_ptr<torch::NoGradGuard> no_grad;
  if (!o.gradients) no_grad = std::make_unique<torch::NoGradGuard>();
  Seq2SeqOutput out = method->forward(batch);
  result["logits"] = cpu_float(out.logits);
  if (out.loss.defined()) result["loss"] = cpu_float(out.loss).reshape({1});
  if (o.gradients) {
    out.loss.backward();
    for (auto& [name, tensor] : method->named_trainable()) {
      torch::Tensor grad = tensor.grad().defined() ? tensor.grad() : torch::zeros_like(tensor);
      result["grad." + name] = cpu_float(grad);
    }
  }
  return result;
}

// What the output was computed with: the model, the precision and the backbone's storage.
std::map<std::string, std::string> output_metadata(const ForwardOptions& o) {
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"model", o.model}, {"precision", o.runtime.precision}};
  if (!o.runtime.backbone_dtype.empty()) metadata["backbone_dtype"] = o.runtime.backbone_dtype;
  return metadata;
}

// A decoder-only model: input_ids (+ attention_mask, labels) in; hidden_states.i, logits and,
// with labels, the causal-LM loss out.
void run_causal_forward(const ForwardOptions& o) {
  if (o.gradients && o.adapter.empty())
    throw UsageError("--gradients needs --adapter (the trainable tensors are the method's)");
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  LoadedCausalLM loaded = load_causal_lm(o.model, model_options);
  loaded.model->eval();
  std::map<std::string, torch::Tensor> tensors = read_safetensors(o.inputs);
  CausalLMBatch batch;
  batch.input_ids = id_tensor(tensors, "input_ids", o.inputs, true);
  batch.attention_mask = id_tensor(tensors, "attention_mask", o.inputs, false);
  batch.labels = id_tensor(tensors, "labels", o.inputs, false);
  const int64_t vocab = loaded.model->config.vocab_size;
  check_ids_in_range(batch.input_ids, "input_ids", o.inputs, vocab, false);
  for (const auto& [key, t] : {std::pair<const char*, torch::Tensor&>{"attention_mask", batch.attention_mask},
                               {"labels", batch.labels}}) {
    if (t.defined() && !t.sizes().equals(batch.input_ids.sizes()))
      throw FormatError(expected_found(o.inputs + ": " + key + " shape", "the shape of input_ids " + shape_of(batch.input_ids),
                                       shape_of(t)));
  }
  if (batch.attention_mask.defined() && ((batch.attention_mask != 0) & (batch.attention_mask != 1)).any().item<bool>())
    throw FormatError(o.inputs + ": attention_mask must hold only 0 and 1");
  if (batch.labels.defined()) {
    check_ids_in_range(batch.labels, "labels", o.inputs, vocab, true);
    if (batch.input_ids.size(1) < 2) throw FormatError(o.inputs + ": a loss needs sequences of at least 2 tokens");
  }
  for (torch::Tensor* t : {&batch.input_ids, &batch.attention_mask, &batch.labels})
    if (t->defined()) *t = t->to(model_options.device);
  std::map<std::string, std::string> metadata = output_metadata(o);
  if (!o.adapter.empty()) {
    Seq2SeqBatch shared;
    shared.input_ids = batch.input_ids;
    shared.attention_mask = batch.attention_mask;
    shared.labels = batch.labels;
    metadata["adapter"] = o.adapter;
    return write_safetensors(o.output, method_forward(o, loaded.model, shared, model_options.device), metadata);
  }
  torch::NoGradGuard no_grad;
  CausalLMOutput out = loaded.model->forward(batch, /*collect_hidden=*/true);
  std::map<std::string, torch::Tensor> result;
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    result["hidden_states." + std::to_string(i)] = cpu_float(out.hidden_states[i]);
  result["logits"] = cpu_float(out.logits);
  if (out.loss.defined()) result["loss"] = cpu_float(out.loss).reshape({1});
  write_safetensors(o.output, result, metadata);
}

void run_forward(const ForwardOptions& o) {
  if (model_family(o.model) == ModelFamily::causal_lm) return run_causal_forward(o);
  if (o.gradients && o.adapter.empty())
    throw UsageError("--gradients needs --adapter (the trainable tensors are the method's)");
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  const torch::Device device = model_options.device;
  LoadedModel loaded = load_model(o.model, model_options);
  loaded.model->eval();
  Seq2SeqBatch batch = read_batch(o.inputs, loaded.model->config.vocab_size);
  for (torch::Tensor* t : {&batch.input_ids, &batch.attention_mask, &batch.labels, &batch.decoder_input_ids})
    if (t->defined()) *t = t->to(device);

  std::map<std::string, torch::Tensor> result;
  if (!o.adapter.empty()) {
    result = method_forward(o, loaded.model, batch, device);
  } else {
    torch::NoGradGuard no_grad;
    Seq2SeqOutput out = loaded.model->forward(batch, /*collect_hidden=*/true);
    for (size_t i = 0; i < out.encoder_hidden_states.size(); ++i)
      result["encoder_hidden_states." + std::to_string(i)] = cpu_float(out.encoder_hidden_states[i]);
    for (size_t i = 0; i < out.decoder_hidden_states.size(); ++i)
      result["decoder_hidden_states." + std::to_string(i)] = cpu_float(out.decoder_hidden_states[i]);
    result["logits"] = cpu_float(out.logits);
    if (out.loss.defined()) result["loss"] = cpu_float(out.loss).reshape({1});
  }
  std::map<std::string, std::string> metadata = output_metadata(o);
  if (!o.adapter.empty()) metadata["adapter"] = o.adapter;
  write_safetensors(o.output, result, metadata);
}

}  // namespace

void add_forward_command(CLI::App& root) {
  auto options = std::make_shared<ForwardOptions>();
  CLI::App* app = root.add_subcommand(
      "forward",
      "Run one forward pass (eval mode, no grad) and write hidden states, logits and loss as safetensors");
  app->add_option("--model", options->model, "Hugging Face model directory or arch:NAME")->required();
  app->add_option("--inputs", options->inputs,
                  "safetensors with input_ids [B,S] and attention_mask, plus labels and/or decoder_input_ids "
                  "[B,T] (int64; other tensors are ignored). A decoder-only model reads input_ids, attention_mask "
                  "and labels [B,S]")
      ->required();
  app->add_option("--output", options->output,
                  "safetensors to write: encoder_hidden_states.i, decoder_hidden_states.i, logits, loss (float32); "
                  "a decoder-only model: hidden_states.i, logits, loss")
      ->required();
  app->add_option("--adapter", options->adapter,
                  "a method's adapter folder (adapter_config.json + adapter_model.safetensors, e.g. a run's best/): "
                  "wrap the model in that method; the output then holds its logits and loss");
  app->add_flag("--gradients", options->gradients,
                "with --adapter: also write grad.NAME, the loss's gradient of every trainable tensor (eval mode)");
  add_runtime_options(app, options->runtime);
  add_backbone_dtype_option(app, options->runtime);
  app->callback([options] { run_forward(*options); });
}

}  // namespace ladder::cli
