// LST's forward pass, decoding with both caches, and the trainable-parameter view.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ladder/error.h"
#include "ladder/methods/factories.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "side_init.h"

namespace ladder {
namespace {

// Keeps the output of each kept block (in the ladder dtype); everything else the stack
// frees as soon as the next block has consumed it.
BlockHook keep_ladder_inputs(const std::vector<int64_t>& kept, torch::ScalarType dtype,
                             std::vector<torch::Tensor>& out) {
  return [&kept, dtype, &out](int64_t layer, const torch::Tensor& output) {
    if (std::binary_search(kept.begin(), kept.end(), layer)) out.push_back(output.to(dtype));
  };
}

std::vector<int64_t> resolve_layers(const std::vector<int64_t>& requested, int64_t num_layers) {
  return requested.empty() ? default_side_layers(num_layers) : requested;
}

}  // namespace

LstMethod::LstMethod(T5ForConditionalGeneration backbone, const MethodOptions& options)
    : FineTuningMethod(std::move(backbone)),
      config_(LstConfig::from_json(options.settings)),
      // Ladder inputs are kept in the dtype the backbone actually runs in.
      ladder_dtype_(backbone_->compute_dtype()) {
  const T5Config& c = config();
  config_.encoder_layers = resolve_layers(config_.encoder_layers, c.num_layers);
  config_.decoder_layers = resolve_layers(config_.decoder_layers, c.num_decoder_layers);
  const T5Config side = side_config(c, config_.reduction);

  side_modules = std::make_shared<torch::nn::Module>("LadderSideNetwork");
  side_encoder = side_modules->register_module(
      "side_encoder", SideStack(c, side, false, c.num_layers, config_.encoder_layers, config_));
  side_decoder = side_modules->register_module(
      "side_decoder", SideStack(c, side, true, c.num_decoder_layers, config_.decoder_layers, config_));
  upsample = side_modules->register_module("upsample", Linear(side.d_model, c.d_model, true));

  torch::Generator gen = at::detail::createCPUGenerator(options.seed);
  for (auto* stack : {side_encoder.get(), side_decoder.get()}) {
    // The backbone's sizes set the scales (the authors' _init_weights reads the unreduced config).
    init_t5_stack(*stack->side, c, gen);
    lst_init::init_new_linear(*stack->first_downsample, gen);
    for (auto& rung : *stack->ladder) lst_init::init_rung(*rung, gen);
  }
  lst_init::init_new_linear(*upsample, gen);

  freeze_backbone();
  if (config_.side_init == "magnitude") initialize_side(magnitude_importance(*backbone_));
  side_modules->to(backbone_->device());
  set_training(true);
}

std::vector<std::pair<std::string, torch::Tensor>> LstMethod::method_trainable() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : side_modules->named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

void LstMethod::set_training(bool training) {
  side_modules->train(training);
  backbone_->train(training && config_.backbone_dropout);
}

LstMethod::BackboneStates LstMethod::run_backbone_encoder(const torch::Tensor& input_ids,
                                                          const torch::Tensor& attention_mask) {
  torch::NoGradGuard no_grad;
  BackboneStates states;
  states.embeddings = backbone_->encoder_embeddings(input_ids);
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = states.embeddings;
  inputs.attention_mask = attention_mask;
  states.output = backbone_->encoder
                      ->forward(inputs, false, keep_ladder_inputs(config_.encoder_layers, ladder_dtype_, states.ladder_inputs))
                      .last_hidden_state;
  return states;
}

LstMethod::BackboneStates LstMethod::run_backbone_decoder(const torch::Tensor& decoder_ids,
                                                          const torch::Tensor& encoder_output,
                                                          const torch::Tensor& encoder_mask, StackCache* cache) {
  torch::NoGradGuard no_grad;
  BackboneStates states;
  states.embeddings = backbone_->embed(decoder_ids);
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = states.embeddings;
  inputs.encoder_output = encoder_output;
  inputs.encoder_mask = encoder_mask;
  // The backbone decoder's own final output is not used: only its block outputs feed ladders.
  backbone_->decoder->forward(inputs, false, keep_ladder_inputs(config_.decoder_layers, ladder_dtype_, states.ladder_inputs),
                              cache);
  return states;
}

torch::Tensor LstMethod::logits_from_side(const torch::Tensor& side_decoder_output) {
  torch::Tensor up = upsample->forward(side_decoder_output);
  return backbone_->head(up.to(backbone_->compute_dtype()));
}

namespace {

torch::Tensor decoder_ids_of(const Seq2SeqBatch& batch, const T5Config& c) {
  return batch.decoder_input_ids.defined() ? batch.decoder_input_ids
                                           : shift_right(batch.labels, c.decoder_start_token_id, c.pad_token_id);
}

torch::Tensor mask_of(const Seq2SeqBatch& batch) {
  return batch.attention_mask.defined() ? batch.attention_mask : torch::ones_like(batch.input_ids);
}

}  // namespace

std::string LstMethod::why_backbone_not_cacheable() const {
  if (config_.backbone_dropout)
    return "lst: caching the backbone's states needs a deterministic backbone: set "
           "--settings '{\"backbone_dropout\": false}' (the authors keep the backbone's dropout on)";
  return "";
}

LadderStates LstMethod::backbone_states(const Seq2SeqBatch& batch) {
  if (blocks_released_) throw Error("internal: lst: the backbone's blocks are released (restore_backbone_blocks first)");
  const torch::Tensor mask = mask_of(batch);
  LadderStates states;
  BackboneStates enc = run_backbone_encoder(batch.input_ids, mask);
  states.encoder = std::move(enc.ladder_inputs);
  BackboneStates dec = run_backbone_decoder(decoder_ids_of(batch, config()), enc.output, mask);
  states.decoder = std::move(dec.ladder_inputs);
  return states;
}

nlohmann::json LstMethod::backbone_states_identity() const {
  return {{"encoder_layers", config_.encoder_layers},
          {"decoder_layers", config_.decoder_layers},
          {"states_dtype", std::string(c10::toString(ladder_dtype_))}};
}

LstMethod::SideEncoderInput LstMethod::side_encoder_input(const torch::Tensor& text_embeddings,
                                                          const torch::Tensor& text_mask, const VisualInput& visual) {
  if (!visual.defined()) return {text_embeddings, text_mask};
  torch::Tensor vis = backbone_->visual_embeds(visual);  // trainable: outside the no-grad region
  torch::Tensor ones = torch::ones({vis.size(0), vis.size(1)}, text_mask.options());
  return {torch::cat({text_embeddings.to(vis.scalar_type()), vis}, 1), torch::cat({text_mask, ones}, 1)};
}

Seq2SeqOutput LstMethod::forward_from_states(const Seq2SeqBatch& batch, const LadderStates& states) {
  const torch::Tensor mask = mask_of(batch);
  torch::Tensor encoder_embeddings, decoder_embeddings;
  {
    torch::NoGradGuard no_grad;
    encoder_embeddings = backbone_->encoder_embeddings(batch.input_ids);
    decoder_embeddings = backbone_->embed(decoder_ids_of(batch, config()));
  }
  SideEncoderInput side_in = side_encoder_input(encoder_embeddings, mask, batch.visual);
  torch::Tensor side_encoder_output = side_encoder->forward(side_in.embeddings, states.encoder, side_in.mask, {}, {});
  torch::Tensor side_out =
      side_decoder->forward(decoder_embeddings, states.decoder, {}, side_encoder_output, side_in.mask);
  Seq2SeqOutput out;
  out.logits = logits_from_side(side_out);
  if (batch.labels.defined()) out.loss = seq2seq_loss(out.logits, batch.labels);
  return out;
}

Seq2SeqOutput LstMethod::forward(const Seq2SeqBatch& batch) {
  // One path with and without the cache, so that cached training is the same computation.
  return forward_from_states(batch, backbone_states(batch));
}

namespace {

class LstDecodingSession : public DecodingSession {
 public:
  LstDecodingSession(LstMethod& lst, const Seq2SeqBatch& inputs, bool use_cache) : lst_(lst), use_cache_(use_cache) {
    mask_ = mask_of(inputs);
    LstMethod::BackboneStates enc = lst.run_backbone_encoder(inputs.input_ids, mask_);
    LstMethod::SideEncoderInput side_in = lst.side_encoder_input(enc.embeddings, mask_, inputs.visual);
    side_mask_ = side_in.mask;
    side_encoder_output_ = lst.side_encoder->forward(side_in.embeddings, enc.ladder_inputs, side_mask_, {}, {});
    backbone_encoder_output_ = enc.output;
  }

  torch::Tensor next_logits(const torch::Tensor& decoder_ids) override {
    using torch::indexing::Slice;
    torch::Tensor new_ids = use_cache_ ? decoder_ids.index({Slice(), Slice(-1, torch::indexing::None)}) : decoder_ids;
    LstMethod::BackboneStates dec = lst_.run_backbone_decoder(new_ids, backbone_encoder_output_, mask_,
                                                              use_cache_ ? &backbone_cache_ : nullptr);
    torch::Tensor side = lst_.side_decoder->forward(dec.embeddings, dec.ladder_inputs, {}, side_encoder_output_,
                                                    side_mask_, use_cache_ ? &side_cache_ : nullptr);
    return lst_.logits_from_side(side.index({Slice(), -1}));
  }

  void reorder(const torch::Tensor& rows) override {
    for (torch::Tensor* t : {&mask_, &side_mask_, &side_encoder_output_, &backbone_encoder_output_})
      *t = t->index_select(0, rows);
    reorder_cache(backbone_cache_, rows);
    reorder_cache(side_cache_, rows);
  }

 private:
  LstMethod& lst_;
  bool use_cache_;
  torch::Tensor mask_, side_mask_, side_encoder_output_, backbone_encoder_output_;
  StackCache backbone_cache_, side_cache_;
};

}  // namespace

namespace {

// The backbone tensors only backbone_states() reads: side-network forward passes from cached
// states need the embedding table (and an untied head), nothing of the stacks.
bool only_for_backbone_states(const std::string& name) {
  for (const char* prefix : {"encoder.block.", "decoder.block.", "encoder.final_layer_norm.", "decoder.final_layer_norm."})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

int64_t LstMethod::release_backbone_blocks(const std::string& park_path) {
  if (blocks_released_) return 0;
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> blocks;
  // Buffers too: a quantised backbone keeps its weights as codes and scales.
  for (auto& p : backbone_->named_parameters())
    if (only_for_backbone_states(p.key())) blocks.emplace(p.key(), p.value());
  for (auto& b : backbone_->named_buffers())
    if (only_for_backbone_states(b.key())) blocks.emplace(b.key(), b.value());
  if (!park_path.empty() && !std::filesystem::exists(park_path)) write_safetensors(park_path, blocks);
  int64_t freed = 0;
  for (auto& [name, tensor] : blocks) {
    freed += tensor.numel() * static_cast<int64_t>(tensor.element_size());
    parked_shapes_[name] = tensor.sizes().vec();
    tensor.set_data(torch::empty({0}, tensor.options()));
  }
  parked_blocks_ = park_path;
  blocks_released_ = true;
  return freed;
}

void LstMethod::restore_backbone_blocks() {
  if (!blocks_released_) return;
  if (parked_blocks_.empty()) throw Error("internal: lst: the backbone's blocks were released without a copy");
  const auto parked = read_safetensors(parked_blocks_);
  torch::NoGradGuard no_grad;
  auto tensors = backbone_->named_parameters();
  for (auto& b : backbone_->named_buffers()) tensors.insert(b.key(), b.value());
  for (auto& p : tensors) {
    if (!only_for_backbone_states(p.key())) continue;
    auto it = parked.find(p.key());
    if (it == parked.end() || it->second.sizes().vec() != parked_shapes_.at(p.key()))
      throw FormatError(parked_blocks_ + ": the parked backbone blocks lack " + p.key() +
                        " or hold it in another shape (damaged or replaced? remove the file)");
    p.value().set_data(it->second.to(p.value().device(), p.value().scalar_type()));
  }
  blocks_released_ = false;
}

std::unique_ptr<DecodingSession> LstMethod::start_decoding(const Seq2SeqBatch& inputs, bool use_cache) {
  if (blocks_released_) throw Error("internal: lst: decoding needs the backbone's blocks (restore_backbone_blocks first)");
  torch::NoGradGuard no_grad;
  return std::make_unique<LstDecodingSession>(*this, inputs, use_cache);
}

std::unique_ptr<FineTuningMethod> make_lst(T5ForConditionalGeneration backbone, const MethodOptions& options) {
  return std::make_unique<LstMethod>(std::move(backbone), options);
}

}  // namespace ladder
