#pragma once
// A fine-tuning method wraps one pretrained model (a Backbone: T5, or a decoder-only model of
// the Llama family): it adds or selects the trainable part, may change the forward pass (LST
// runs its side network), and saves only what it trains as adapter_config.json +
// adapter_model.safetensors (PEFT's layout). full, lora and bitfit take either family; lst,
// adapter and prompt are T5's so far.
#include <map>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/models/backbone.h"
#include "ladder/models/generate.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/t5/model.h"

namespace ladder {

struct MethodOptions {
  std::string name = "lst";  // lst | full | lora | adapter | bitfit | prompt
  // Method-specific settings (e.g. {"r": 32, "alpha": 32} for LoRA); unknown keys are errors.
  nlohmann::json settings = nlohmann::json::object();
  uint64_t seed = 0;
  // Storage dtype of the frozen backbone; trainable weights stay fp32 (master copies).
  torch::ScalarType backbone_dtype = torch::kFloat;
  // Vision-language runs: the image features' width (0: text only).
  VisualConfig visual;
};

// The frozen backbone's share of a forward pass, for a method where it is a pure function of
// each example (LST with backbone dropout off): per stack, the outputs of the blocks the
// method reads. What `ladder train --cache-backbone` stores once per example.
struct LadderStates {
  std::vector<torch::Tensor> encoder;  // [B, S, d] per kept encoder block
  std::vector<torch::Tensor> decoder;  // [B, T, d] per kept decoder block
};

class FineTuningMethod {
 public:
  explicit FineTuningMethod(Backbone backbone)
      : handle_(std::move(backbone)),
        backbone_(handle_.t5_or_null()),
        backbone_count_(count_parameters(handle_.module())),
        backbone_checksum_(architecture_checksum(handle_.module())) {}
  virtual ~FineTuningMethod() = default;

  virtual std::string name() const = 0;
  // The settings actually in effect (defaults filled in), saved in adapter_config.json.
  virtual nlohmann::json settings() const = 0;
  // Trainable tensors under the names they are saved with (LoRA: PEFT's names): the
  // method's own, then the visual embedding's (encoder.visual_embedding.*) when it has one.
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable();
  // Vision-language runs: adds VL-T5's trainable visual embedding to the backbone. Every
  // method then reads batches with visual input; only LST keeps it out of the backbone.
  void enable_visual(const VisualConfig& visual);
  const VisualConfig& visual_config() const { return visual_; }
  // Where the backbone came from (a model folder or arch:NAME), as the caller loaded it:
  // written as PEFT's base_model_name_or_path; "" when unknown.
  void set_base_model_source(std::string source) { base_model_source_ = std::move(source); }
  const std::string& base_model_source() const { return base_model_source_; }

  // Loss and logits for a batch (labels required for the loss).
  virtual Seq2SeqOutput forward(const Seq2SeqBatch& batch);
  // inputs: input_ids, attention_mask and, for vision-language runs, visual.
  virtual std::unique_ptr<DecodingSession> start_decoding(const Seq2SeqBatch& inputs, bool use_cache);
  // A decoder-only backbone's generation (greedy_generate in llama/generate.h drives it).
  virtual std::unique_ptr<CausalDecodingSession> start_causal_decoding(bool use_cache);
  // Train/eval mode of everything that runs (dropout).
  virtual void set_training(bool training);
  // Data-dependent initialisation (LST's Fisher pruning): how many training examples the
  // method still wants (0: none, or done already), and the call that receives them (batch size
  // 1 each, on the method's device). Returns a line for the log. In a data-parallel run each
  // rank passes its share of the examples and `sum_across_ranks`, which sums a statistic over
  // the ranks in place, so every rank ends with the initialisation one process would compute.
  using SumAcrossRanks = std::function<void(torch::Tensor&)>;
  // Called after each example with (examples done, examples in all); it may throw to abandon
  // the initialisation, which then leaves the method as it was (a stop signal, say).
  using ExampleDone = std::function<void(std::size_t done, std::size_t total)>;
  virtual int64_t init_examples_needed() const { return 0; }
  // "" when initialize_from_examples can run on this backbone; otherwise why not (checked
  // before a run writes anything, so that a refusal leaves no folder behind).
  virtual std::string why_init_refused() const { return ""; }
  virtual std::string initialize_from_examples(const std::vector<Seq2SeqBatch>& examples,
                                               const SumAcrossRanks& sum_across_ranks = {},
                                               const ExampleDone& on_example = {});
  // Backbone-state caching. "" when forward(batch) equals forward_from_states(batch,
  // backbone_states(batch)) with backbone_states a pure function of each example; otherwise
  // the reason, for the error message.
  virtual std::string why_backbone_not_cacheable() const;
  virtual LadderStates backbone_states(const Seq2SeqBatch& batch);
  virtual Seq2SeqOutput forward_from_states(const Seq2SeqBatch& batch, const LadderStates& states);
  // What the states depend on besides the examples and the backbone's weights.
  virtual nlohmann::json backbone_states_identity() const;
  // Once every state training needs is cached, the backbone tensors that only
  // backbone_states() reads (T5: the blocks and final norms) are dead weight: frees them,
  // first writing them to `park_path` (a safetensors file; "" = never restored) unless it
  // exists. Returns the bytes freed. restore_backbone_blocks() reads them back (decoding
  // needs them); backbone_states() and decoding refuse while they are released.
  virtual int64_t release_backbone_blocks(const std::string& park_path);
  virtual void restore_backbone_blocks();
  bool backbone_blocks_released() const { return blocks_released_; }
  // Moves the trainable part (fp32) to a device; the backbone is moved by the caller.
  virtual void to(const torch::Device& device);

  std::vector<torch::Tensor> trainable_parameters();
  int64_t trainable_count();
  // Parameters of the pretrained model, counted before the method added anything to it.
  int64_t backbone_count() const { return backbone_count_; }
  // architecture_checksum() of the pretrained model, also taken before the method added
  // anything: LoRA, adapters, BitFit biases and prompts register parameters in the backbone.
  const std::string& backbone_checksum() const { return backbone_checksum_; }
  static int64_t count_parameters(const torch::nn::Module& module);

  // The T5 inside (an internal error for a decoder-only backbone: callers check family first).
  T5ForConditionalGeneration& backbone();
  const T5Config& config() const;
  const Backbone& backbone_handle() const { return handle_; }

 protected:
  virtual std::vector<std::pair<std::string, torch::Tensor>> method_trainable() = 0;
  // Freezes every backbone parameter (methods then unfreeze or add their own).
  void freeze_backbone();
  VisualConfig visual_;
  Backbone handle_;
  T5ForConditionalGeneration backbone_;  // null for a decoder-only backbone
  int64_t backbone_count_;
  std::string backbone_checksum_;
  bool blocks_released_ = false;
  std::string base_model_source_;
};

// Builds a method around a loaded backbone (the backbone is modified in place for the
// methods that add modules to it).
std::unique_ptr<FineTuningMethod> make_method(Backbone backbone, const MethodOptions& options);
std::vector<std::string> method_names();
// Default learning rate of the paper's recipe for a method (LST 3e-3, prompt 0.3, else 3e-4).
double default_learning_rate(const std::string& method);

// A method's folder (method_folder.cpp), each file written atomically into `dir`:
//   adapter_model.safetensors  the trainable tensors (LoRA: PEFT's names);
//   ladder_config.json         the method, its settings, the backbone's identity (architecture
//                              config, a checksum of its parameter names and shapes, where it
//                              was loaded from) and the image features' layout and statistics;
//   adapter_config.json        LoRA: PEFT's LoraConfig and nothing else, so that PEFT (any
//                              version) and AutoPeftModel load the folder; other methods, which
//                              PEFT does not have: the base model and the method's name.
void save_method(FineTuningMethod& method, const std::string& dir);
// Rebuilds the method from `dir` around `backbone` and loads its weights; a different
// backbone is a LoadError naming both identities. Reads ladder's folders (and those written
// before ladder_config.json, which kept everything in adapter_config.json) and PEFT's LoRA
// folders (whose base model is only checked by the tensors' shapes).
// The method a folder holds ("lora" for PEFT's LoRA folders); FormatError/LoadError as load_method.
std::string saved_method_name(const std::string& dir);
std::unique_ptr<FineTuningMethod> load_method(Backbone backbone, const std::string& dir,
                                              torch::ScalarType backbone_dtype = torch::kFloat);

}  // namespace ladder
