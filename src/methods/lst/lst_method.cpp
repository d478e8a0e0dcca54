// LST's forward pass, decoding with both caches, and the trainable-parameter view.
#include <algorithm>
#include <cmath>

#include "ladder/error.h"
#include "ladder/methods/factories.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"

namespace ladder {
namespace {

void init_new_linear(LinearImpl& linear, torch::Generator& gen) {
  torch::NoGradGuard no_grad;
  linear.weight.copy_(torch::empty(linear.weight.sizes(), torch::kFloat).normal_(0.0, 0.01, gen));
  if (linear.bias.defined()) linear.bias.zero_();
}

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
    init_new_linear(*stack->first_downsample, gen);
    for (auto& rung : *stack->ladder) init_new_linear(*rung->as<LinearImpl>(), gen);
  }
  init_new_linear(*upsample, gen);

  freeze_backbone();
  if (config_.side_init == "magnitude") initialize_side(magnitude_importance(*backbone_));
  side_modules->to(backbone_->device());
  set_training(true);
}

std::vector<std::pair<std::string, torch::Tensor>> LstMethod::named_trainable() {
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

Seq2SeqOutput LstMethod::forward(const Seq2SeqBatch& batch) {
  const T5Config& c = config();
  torch::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask : torch::ones_like(batch.input_ids);
  torch::Tensor decoder_ids = batch.decoder_input_ids.defined()
                                  ? batch.decoder_input_ids
                                  : shift_right(batch.labels, c.decoder_start_token_id, c.pad_token_id);
  torch::Tensor side_encoder_output, backbone_encoder_output;
  {
    BackboneStates enc = run_backbone_encoder(batch.input_ids, mask);
    side_encoder_output = side_encoder->forward(enc.embeddings, enc.ladder_inputs, mask, {}, {});
    backbone_encoder_output = enc.output;
  }
  BackboneStates dec = run_backbone_decoder(decoder_ids, backbone_encoder_output, mask);
  backbone_encoder_output = torch::Tensor();  // consumed: release before the side decoder runs
  torch::Tensor side_out = side_decoder->forward(dec.embeddings, dec.ladder_inputs, {}, side_encoder_output, mask);
  Seq2SeqOutput out;
  out.logits = logits_from_side(side_out);
  if (batch.labels.defined()) out.loss = seq2seq_loss(out.logits, batch.labels);
  return out;
}

namespace {

class LstDecodingSession : public DecodingSession {
 public:
  LstDecodingSession(LstMethod& lst, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                     bool use_cache)
      : lst_(lst), use_cache_(use_cache) {
    mask_ = attention_mask.defined() ? attention_mask : torch::ones_like(input_ids);
    LstMethod::BackboneStates enc = lst.run_backbone_encoder(input_ids, mask_);
    side_encoder_output_ = lst.side_encoder->forward(enc.embeddings, enc.ladder_inputs, mask_, {}, {});
    backbone_encoder_output_ = enc.output;
  }

  torch::Tensor next_logits(const torch::Tensor& decoder_ids) override {
    using torch::indexing::Slice;
    torch::Tensor new_ids = use_cache_ ? decoder_ids.index({Slice(), Slice(-1, torch::indexing::None)}) : decoder_ids;
    LstMethod::BackboneStates dec = lst_.run_backbone_decoder(new_ids, backbone_encoder_output_, mask_,
                                                              use_cache_ ? &backbone_cache_ : nullptr);
    torch::Tensor side = lst_.side_decoder->forward(dec.embeddings, dec.ladder_inputs, {}, side_encoder_output_, mask_,
                                                    use_cache_ ? &side_cache_ : nullptr);
    return lst_.logits_from_side(side.index({Slice(), -1}));
  }

 private:
  LstMethod& lst_;
  bool use_cache_;
  torch::Tensor mask_, side_encoder_output_, backbone_encoder_output_;
  StackCache backbone_cache_, side_cache_;
};

}  // namespace

std::unique_ptr<DecodingSession> LstMethod::start_decoding(const torch::Tensor& input_ids,
                                                           const torch::Tensor& attention_mask, bool use_cache) {
  torch::NoGradGuard no_grad;
  return std::make_unique<LstDecodingSession>(*this, input_ids, attention_mask, use_cache);
}

std::unique_ptr<FineTuningMethod> make_lst(T5ForConditionalGeneration backbone, const MethodOptions& options) {
  return std::make_unique<LstMethod>(std::move(backbone), options);
}

}  // namespace ladder
