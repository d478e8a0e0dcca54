// `ladder generate --model DIR TEXT...` or `--ids 1,2,3`: greedy decoding with the plain model
// (T5 or decoder-only), one line per text or id list. With `--adapter DIR` (any method's folder:
// a run's best/ or last/, ladder init's, a PEFT LoRA) the method decodes, and each line is
// what it generates after the text, as `predict` prints it.
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/models/generate.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/t5/load.h"
#include "ladder/tokenizer/text_streamer.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/evaluate.h"
#include "ladder/train/run.h"
#include "ladder/train/batching.h"
#include "runtime_options.h"
#include "task_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string tokenizer;  // default: <model>/spiece.model
  std::string adapter;    // a method's folder; "" = the plain model
  std::string eos_token;  // --eos-token: decoder-only generation also ends at this token
  int64_t max_new_tokens = 20;
  int64_t max_source_length = 512;
  std::vector<std::string> texts;
  std::vector<std::string> ids;  // comma-separated token ids, one prompt each
  bool no_cache = false;
  bool stream = false;             // each text's output written as it is generated
  SamplingOptions sampling;        // seed: --seed
  std::vector<std::string> stops;  // each output is cut before the first of these
  RuntimeOptions runtime;
};

// The output up to (not including) the first stop string.
std::string cut_at_stop(const std::string& text, const std::vector<std::string>& stops) {
  std::size_t end = text.size();
  for (const auto& stop : stops) end = std::min(end, text.find(stop));
  return text.substr(0, end);
}

SamplingOptions sampling_of(const GenerateOptions& o) {
  SamplingOptions s = o.sampling;
  s.seed = o.runtime.seed;
  s.validate();
  for (const auto& stop : o.stops)
    if (stop.empty()) throw UsageError("--stop: an empty text would cut every output to nothing");
  return s;
}

std::vector<std::vector<int64_t>> parse_id_lists(const std::vector<std::string>& lists, int64_t vocab) {
  std::vector<std::vector<int64_t>> prompts;
  for (const auto& list : lists) {
    std::vector<int64_t> ids;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = std::min(list.find(',', start), list.size());
      const std::string item = list.substr(start, comma - start);
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (item.empty() || used != item.size())
        throw UsageError(expected_found("--ids " + list, "comma-separated token ids", "\"" + item + "\""));
      if (id < 0 || id >= vocab)
        throw UsageError(expected_found("--ids " + list, "ids in [0, " + std::to_string(vocab) + ")", std::to_string(id)));
      ids.push_back(id);
      start = comma + 1;
    }
    prompts.push_back(ids);
  }
  return prompts;
}

void print_ids(const torch::Tensor& row) {
  std::string line;
  for (int64_t t = 0; t < row.size(0); ++t) line += (t ? "," : "") + std::to_string(row[t].item<int64_t>());
  std::cout << line << "\n";
}

// --stream: a generation hook that writes row 0's text to stdout as it settles; generation
// ends at the row's end-of-sequence id or at a stop text. `with_end_token`: the end id is decoded
// too, as the plain decoder-only output does (a special token writes nothing; an --eos-token
// such as "." does).
struct StdoutStream {
  TextStreamer streamer;
  bool with_end_token;
  StdoutStream(const TextTokenizer& tokenizer, std::vector<int64_t> context, const std::vector<std::string>& stops,
               bool with_end_token = false)
      : streamer(tokenizer, std::move(context), stops, [](const std::string& text) { std::cout << text << std::flush; }),
        with_end_token(with_end_token) {}
  std::function<bool(const torch::Tensor&, const torch::Tensor&)> hook() {
    return [this](const torch::Tensor& next, const torch::Tensor& ended) {
      const bool end = ended[0].item<bool>();
      if (end && !with_end_token) return false;
      return streamer.add(next[0].item<int64_t>()) && !end;
    };
  }
  void end_line() {
    streamer.finish();
    std::cout << "\n" << std::flush;
  }
};

// Decoder-only: each prompt continued greedily up to and including an eos id; printed are the
// new ids (--ids) or the prompt's text with its continuation.
void run_causal_generate(const GenerateOptions& o) {
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  LoadedCausalLM loaded = load_causal_lm(o.model, model_options);
  const LlamaConfig& config = loaded.model->config;
  // The tokenizer the model folder ships (or --tokenizer); each adds its model's start token,
  // as Hugging Face's tokenizers do.
  std::shared_ptr<TextTokenizer> tokenizer;
  std::vector<std::vector<int64_t>> prompts;
  const std::string path = o.tokenizer.empty() ? loaded.tokenizer_path : o.tokenizer;
  if (o.ids.empty() || !o.eos_token.empty()) {  // texts and --eos-token are read with it
    if (path.empty())
      throw UsageError(o.model + ": no tokenizer.model or tokenizer.json in the model directory (pass --tokenizer FILE" +
                       (o.eos_token.empty() ? ", or --ids)" : ": --eos-token is read with it)"));
    tokenizer = load_causal_lm_tokenizer(path);
    if (tokenizer->vocab_size() > config.vocab_size)
      throw UsageError(expected_found(path + ": tokenizer vocabulary", "at most the model's " + std::to_string(config.vocab_size),
                                      std::to_string(tokenizer->vocab_size()), "tokenizer of another model?"));
    if (!o.eos_token.empty()) train::use_eos_token(loaded.model->config, *tokenizer, path, o.eos_token);
  }
  if (!o.ids.empty()) {
    prompts = parse_id_lists(o.ids, config.vocab_size);
  } else {
    for (const auto& text : o.texts) prompts.push_back(tokenizer->encode_input(text));
  }
  auto [ids, mask] = left_padded_batch(prompts, config.fill_token_id());
  loaded.model->eval();
  torch::NoGradGuard no_grad;
  GenerationOptions options;
  options.max_new_tokens = o.max_new_tokens;
  options.sampling = sampling_of(o);
  if (o.ids.empty()) options.vocab_limit = tokenizer->vocab_size();  // a model may pad its vocabulary past the tokenizer's
  if (o.stream) {
    // One prompt at a time, its text first, then its continuation as it comes.
    for (const auto& prompt : prompts) {
      std::cout << tokenizer->decode_text(prompt) << std::flush;
      StdoutStream out(*tokenizer, prompt, o.stops, /*with_end_token=*/true);
      options.on_step = out.hook();
      auto [one, one_mask] = left_padded_batch({prompt}, config.fill_token_id());
      std::unique_ptr<CausalDecodingSession> session = start_causal_decoding(*loaded.model, !o.no_cache);
      greedy_generate(*session, one.to(model_options.device), one_mask.to(model_options.device), config, options);
      out.end_line();
    }
    return;
  }
  std::unique_ptr<CausalDecodingSession> session = start_causal_decoding(*loaded.model, !o.no_cache);
  torch::Tensor generated =
      greedy_generate(*session, ids.to(model_options.device), mask.to(model_options.device), config, options).to(torch::kCPU);
  for (int64_t b = 0; b < generated.size(0); ++b) {
    int64_t n = 0;
    while (n < generated.size(1) && !(n > 0 && config.is_eos(generated[b][n - 1].item<int64_t>()))) ++n;
    if (!o.ids.empty()) {
      print_ids(generated[b].narrow(0, 0, n));
      continue;
    }
    // The prompt and its continuation, decoded together as llama2.c's run.c and Hugging Face's
    // text-generation pipeline print them (a piece's leading space depends on what precedes it).
    std::vector<int64_t> text_ids = prompts[b];
    for (int64_t t = 0; t < n; ++t) text_ids.push_back(generated[b][t].item<int64_t>());
    // A stop string is looked for in the continuation only, not in the prompt.
    const std::string prompt_text = tokenizer->decode_text(prompts[b]);
    const std::string all = tokenizer->decode_text(text_ids);
    const bool prefix = all.compare(0, prompt_text.size(), prompt_text) == 0;
    std::cout << (prefix ? prompt_text + cut_at_stop(all.substr(prompt_text.size()), o.stops) : cut_at_stop(all, o.stops))
              << "\n";
  }
}

// --adapter: the method around the backbone decodes (LST through its side network).
void run_adapter_generate(const GenerateOptions& o) {
  if (!o.ids.empty()) throw UsageError("--adapter takes texts, not --ids");
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  train::LoadedMethod loaded =
      train::load_trained_method(o.model, o.tokenizer, o.adapter, o.runtime.precision, model_options.device, o.runtime.seed,
                                 o.runtime.backbone_dtype, o.eos_token);
  if (loaded.method->visual_config().feature_dim > 0)
    throw UsageError(o.adapter + ": a vision-language method reads image features: use ladder predict --run RUN");
  std::vector<data::Example> inputs;
  for (const auto& text : o.texts) {
    data::Example input;
    input.source = text;
    inputs.push_back(std::move(input));
  }
  const auto examples = train::tokenize_for(loaded.method->backbone_handle(), *loaded.tokenizer, inputs,
                                            o.max_source_length, o.max_new_tokens + 1);
  train::DecodeOptions decode;
  decode.max_new_tokens = o.max_new_tokens;
  decode.device = model_options.device;
  decode.sampling = sampling_of(o);
  if (o.stream) {
    for (const auto& example : examples) {
      StdoutStream out(*loaded.tokenizer, {}, o.stops);
      decode.on_step = out.hook();
      train::generate_texts(*loaded.method, *loaded.tokenizer, std::vector<train::TokenizedExample>{example}, decode);
      out.end_line();
    }
    return;
  }
  for (const auto& line : train::generate_texts(*loaded.method, *loaded.tokenizer, examples, decode))
    std::cout << cut_at_stop(line, o.stops) << "\n";
}

void run_generate(const GenerateOptions& o) {
  if (o.texts.empty() == o.ids.empty()) throw UsageError("give either texts or --ids (one of them)");
  if (o.stream && !o.ids.empty()) throw UsageError("--stream writes text as it is generated: give texts, not --ids");
  if (!o.adapter.empty()) return run_adapter_generate(o);
  if (model_family(o.model) == ModelFamily::causal_lm) return run_causal_generate(o);
  if (!o.eos_token.empty())
    throw UsageError("--eos-token " + o.eos_token + ": a T5 model's answers end with its </s>; the option is for decoder-only models");
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  const torch::Device device = model_options.device;
  LoadedModel loaded = load_model(o.model, model_options);
  if (!o.ids.empty()) {
    const T5Config& config = loaded.model->config;
    std::vector<std::vector<int64_t>> prompts = parse_id_lists(o.ids, config.vocab_size);
    int64_t longest = 1;
    for (const auto& p : prompts) longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
    torch::Tensor ids = torch::full({static_cast<int64_t>(prompts.size()), longest}, config.pad_token_id, torch::kLong);
    torch::Tensor mask = torch::zeros_like(ids);
    for (size_t b = 0; b < prompts.size(); ++b) {
      const int64_t n = static_cast<int64_t>(prompts[b].size());
      ids[b].narrow(0, 0, n).copy_(torch::tensor(prompts[b], torch::kLong));
      mask[b].narrow(0, 0, n).fill_(1);
    }
    loaded.model->eval();
    torch::NoGradGuard no_grad;
    GenerationOptions options;
    options.max_new_tokens = o.max_new_tokens;
    options.use_cache = !o.no_cache;
    options.sampling = sampling_of(o);
    torch::Tensor generated = greedy_generate(*loaded.model, ids.to(device), mask.to(device), options).to(torch::kCPU);
    for (int64_t b = 0; b < generated.size(0); ++b) {
      int64_t n = 1;  // after the start token, up to and including </s>
      while (n < generated.size(1) && generated[b][n - 1].item<int64_t>() != config.eos_token_id) ++n;
      if (n > 1 && generated[b][n - 1].item<int64_t>() != config.eos_token_id && n < generated.size(1)) ++n;
      print_ids(generated[b].narrow(0, 1, n - 1));
    }
    return;
  }
  std::string tokenizer_path = o.tokenizer.empty() ? loaded.tokenizer_path : o.tokenizer;
  if (tokenizer_path.empty())
    throw UsageError(o.model + ": no spiece.model in the model directory (pass --tokenizer FILE)");
  T5Tokenizer tokenizer = T5Tokenizer::load(tokenizer_path);
  const T5Config& config = loaded.model->config;
  if (tokenizer.vocab_size() > config.vocab_size)
    throw UsageError(expected_found(tokenizer_path + ": tokenizer vocabulary",
                                    "at most the model's " + std::to_string(config.vocab_size),
                                    std::to_string(tokenizer.vocab_size()), "tokenizer of another model?"));

  // Right-padded batch of all texts, as the reference does it.
  std::vector<std::vector<int64_t>> encoded;
  int64_t longest = 1;
  for (const auto& text : o.texts) {
    encoded.push_back(tokenizer.encode(text, o.max_source_length));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(encoded.back().size()));
  }
  const int64_t batch = static_cast<int64_t>(encoded.size());
  torch::Tensor ids = torch::full({batch, longest}, config.pad_token_id, torch::kLong);
  torch::Tensor mask = torch::zeros({batch, longest}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = static_cast<int64_t>(encoded[b].size());
    ids[b].narrow(0, 0, n).copy_(torch::tensor(encoded[b], torch::kLong));
    mask[b].narrow(0, 0, n).fill_(1);
  }

  loaded.model->eval();
  torch::NoGradGuard no_grad;
  GenerationOptions options;
  options.max_new_tokens = o.max_new_tokens;
  options.vocab_limit = tokenizer.vocab_size();  // T5 pads its embedding past the tokenizer's ids
  options.sampling = sampling_of(o);
  if (o.stream) {
    for (int64_t b = 0; b < batch; ++b) {
      StdoutStream out(tokenizer, {}, o.stops);
      options.on_step = out.hook();
      const int64_t n = static_cast<int64_t>(encoded[b].size());
      greedy_generate(*loaded.model, ids[b].narrow(0, 0, n).unsqueeze(0).to(device),
                      mask[b].narrow(0, 0, n).unsqueeze(0).to(device), options);
      out.end_line();
    }
    return;
  }
  torch::Tensor generated = greedy_generate(*loaded.model, ids.to(device), mask.to(device), options).to(torch::kCPU);
  for (int64_t b = 0; b < batch; ++b) {
    // Skip the start token; stop at the first </s> (later positions are padding).
    std::vector<int64_t> out;
    for (int64_t t = 1; t < generated.size(1); ++t) {
      const int64_t id = generated[b][t].item<int64_t>();
      if (id == config.eos_token_id) break;
      out.push_back(id);
    }
    std::cout << cut_at_stop(tokenizer.decode(out), o.stops) << "\n";
  }
}

}  // namespace

void add_generate_command(CLI::App& root) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* app = root.add_subcommand(
      "generate", "Greedy generation with a model (T5 or decoder-only), one output line per input text or --ids");
  app->add_option("--model", options->model, "Hugging Face model directory or arch:NAME")->required();
  app->add_option("--tokenizer", options->tokenizer,
                  "tokenizer (default: MODEL/spiece.model for T5; MODEL/tokenizer.model or tokenizer.json for Llama-family)");
  app->add_option("--max-new-tokens", options->max_new_tokens, "tokens to generate at most")
      ->capture_default_str()
      ->check(whole_number(1, kMaxCount));
  app->add_option("--max-source-length", options->max_source_length, "input ids kept per text, </s> included")
      ->capture_default_str()
      ->check(whole_number(1, kMaxCount));
  app->add_option("text", options->texts, "input texts");
  app->add_option("--ids", options->ids,
                  "a prompt as comma-separated token ids (repeatable; instead of texts, for models without a "
                  "tokenizer): prints the generated ids, comma-separated, one line per prompt");
  app->add_option("--adapter", options->adapter,
                  "a method's folder (a run's best/ or last/, ladder init --out, a PEFT LoRA): the method decodes");
  app->add_option("--temperature", options->sampling.temperature,
                  "0: greedy (default); above 0: sample from softmax(logits / T), drawn from --seed");
  app->add_option("--top-k", options->sampling.top_k, "sample among the k most likely tokens (0: all)");
  app->add_option("--top-p", options->sampling.top_p, "sample among the fewest tokens whose probability reaches p (1: all)");
  app->add_option("--repetition-penalty", options->sampling.repetition_penalty,
                  "divide positive logits (multiply negative ones) of tokens already in the sequence (1: off; HF's)");
  // One text per --stop, so that the texts to generate from are not taken for stops.
  app->add_option("--stop", options->stops, "cut each output before the first occurrence of this text (repeatable)")
      ->allow_extra_args(false);
  app->add_flag("--stream", options->stream,
                "write each output as it is generated, token by token (one text at a time; a stop text is never written)");
  app->add_flag("--no-cache", options->no_cache, "recompute every position at each step instead of keeping keys/values");
  add_eos_token_option(app, options->eos_token);
  add_runtime_options(app, options->runtime);
  add_backbone_dtype_option(app, options->runtime);
  app->callback([options] { run_generate(*options); });
}

}  // namespace ladder::cli
