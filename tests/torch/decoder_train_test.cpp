// Decoder-only models through the training path: prompt/completion tokenisation and batches,
// evaluation by generation (equal to the plain model's greedy decoding) and by loss, GLUE as
// prompts with label words, and runs on stories260K that learn a completion task (LoRA, LST
// with its Fisher initialisation) and resume exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../core/expect_error.h"
#include "decoder_test_util.h"
#include "ladder/error.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/train/evaluate.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/run.h"
#include "ladder/train/trainer.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"
#include "test_util.h"

namespace ladder::train {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

// Ids written as text ("461 401" <-> {461, 401}), so that the data tests below can name the ids
// they expect; inputs start with <s> (1).
class IdTokenizer : public TextTokenizer {
 public:
  std::vector<int64_t> encode_text(const std::string& text) const override {
    std::istringstream in(text);
    std::vector<int64_t> ids;
    for (int64_t id; in >> id;) ids.push_back(id);
    return ids;
  }
  std::vector<int64_t> encode_input(const std::string& text) const override {
    std::vector<int64_t> ids = encode_text(text);
    ids.insert(ids.begin(), 1);
    return ids;
  }
  std::string decode_text(const std::vector<int64_t>& ids) const override {
    std::string text;
    for (int64_t id : ids)
      if (id > 2) text += (text.empty() ? "" : " ") + std::to_string(id);
    return text;
  }
  int64_t vocab_size() const override { return 512; }
};

MethodOptions method_options(const std::string& name, nlohmann::json settings = nlohmann::json::object()) {
  return test::method_options(name, std::move(settings), /*seed=*/3);
}

// Four prompts, each with its own answer of one or two words, none of which stories260K would
// say there by itself.
std::vector<data::Example> completion_task() {
  return {{"Lily saw a", "purple cow"}, {"Tom ate the", "blue moon"}, {"The dog said", "hello"}, {"Once upon a", "box"}};
}

// stories260K's own tokenizer (tok512.bin).
Llama2cTokenizer stories_tokenizer() { return Llama2cTokenizer::load(test::stories_tokenizer_path()); }

TEST(DecoderOnlyData, CompletionsFollowTheirPromptsAndTheLossIsTheCompletions) {
  IdTokenizer tokenizer;
  const std::vector<data::Example> examples = {{"461 401 378 455", "300 420"}, {"455", "473 300 420"}};
  // Prompts of at most 3 ids keep <s> and their end; completions end with the eos id (2).
  const auto t = tokenize_completions(examples, tokenizer, /*eos_id=*/2, 3, 8);
  EXPECT_EQ(t[0].source, (std::vector<int64_t>{1, 378, 455}));
  EXPECT_EQ(t[0].target, (std::vector<int64_t>{300, 420, 2}));
  EXPECT_EQ(t[1].source, (std::vector<int64_t>{1, 455}));
  // A completion cut to its limit still ends with eos.
  EXPECT_EQ(tokenize_completions(examples, tokenizer, 2, 8, 3)[1].target, (std::vector<int64_t>{473, 300, 2}));
  EXPECT_TRUE(test::contains(test::error_of<UsageError>([&] { tokenize_completions(examples, tokenizer, 2, 1, 8); }),
                             "start token"));

  CollateOptions training;
  training.decoder_only = true;
  const Seq2SeqBatch batch = collate(t, {0, 1}, /*pad_id=*/0, training);
  EXPECT_TRUE(torch::equal(batch.input_ids, torch::tensor(std::vector<int64_t>{1, 378, 455, 300, 420, 2,  //
                                                                               1, 455, 473, 300, 420, 2})
                                                 .view({2, 6})));
  const Seq2SeqBatch uneven = collate(t, {1, 0}, 0, training);
  const std::vector<int64_t> labels(uneven.labels.data_ptr<int64_t>(), uneven.labels.data_ptr<int64_t>() + 12);
  EXPECT_EQ(labels, (std::vector<int64_t>{-100, -100, 473, 300, 420, 2, -100, -100, -100, 300, 420, 2}));
  // Right padding for training, masked and without loss.
  const Seq2SeqBatch padded = collate(tokenize_completions({{"455", "473"}, {"461 401", "300 420"}}, tokenizer, 2, 8, 8),
                                      {0, 1}, 0, training);
  EXPECT_TRUE(torch::equal(padded.attention_mask[0], torch::tensor(std::vector<int64_t>{1, 1, 1, 1, 0, 0})));
  EXPECT_EQ(padded.labels[0][4].item<int64_t>(), -100);
  EXPECT_EQ(count_tokens(padded, /*decoder_only=*/true), 10);  // 4 + 6 tokens, labels not counted twice
  // Generation reads the prompts alone, left-padded so that their ends line up.
  CollateOptions prompts = training;
  prompts.with_labels = false;
  const Seq2SeqBatch left = collate(t, {0, 1}, 0, prompts);
  EXPECT_TRUE(torch::equal(left.input_ids, torch::tensor(std::vector<int64_t>{1, 378, 455, 0, 1, 455}).view({2, 3})));
  EXPECT_TRUE(torch::equal(left.attention_mask, torch::tensor(std::vector<int64_t>{1, 1, 1, 0, 1, 1}).view({2, 3})));
  EXPECT_FALSE(left.labels.defined());
}

// stories260K inside a fresh LoRA, which starts as the plain model (B = 0), and the completion
// task's examples.
struct FreshLora {
  explicit FreshLora(const TempDir& dir)
      : tokenizer(stories_tokenizer()),
        model(load_causal_lm(test::stories_folder(dir)).model),
        method(make_method(model, method_options("lora"))),
        examples(tokenize_completions(completion_task(), tokenizer, Llama2cTokenizer::kBosId, 16, 8)) {}
  Llama2cTokenizer tokenizer;
  LlamaForCausalLM model;
  std::unique_ptr<FineTuningMethod> method;
  std::vector<TokenizedExample> examples;
};

TEST(DecoderOnlyEvaluation, GeneratedCompletionsAreThePlainModelsGreedyOnes) {
  TempDir dir;
  FreshLora f(dir);
  auto& [tokenizer, model, method, examples] = f;
  DecodeOptions options;
  options.max_new_tokens = 6;
  options.batch_size = 3;  // a batch of prompts of different lengths, and a batch of one
  const std::vector<std::string> texts = generate_texts(*method, tokenizer, examples, options);
  ASSERT_EQ(texts.size(), examples.size());
  model->eval();
  torch::NoGradGuard no_grad;
  GenerationOptions greedy;
  greedy.max_new_tokens = 6;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    auto session = start_causal_decoding(*model, /*use_cache=*/false);
    const torch::Tensor prompt = torch::tensor(examples[i].source, torch::kLong).unsqueeze(0);
    const torch::Tensor ids = greedy_generate(*session, prompt, torch::Tensor(), model->config, greedy)[0];
    std::vector<int64_t> generated;
    for (int64_t t = 0; t < ids.size(0) && !model->config.is_eos(ids[t].item<int64_t>()); ++t)
      generated.push_back(ids[t].item<int64_t>());
    EXPECT_FALSE(generated.empty());
    EXPECT_EQ(texts[i], tokenizer.decode_text(generated)) << i;
  }
}

TEST(DecoderOnlyEvaluation, TheLossIsTheMeanOverEveryCompletionToken) {
  TempDir dir;
  FreshLora f(dir);
  auto& [tokenizer, model, method, examples] = f;
  DecodeOptions options;
  options.batch_size = 3;
  const auto metrics = evaluate_loss(*method, examples, options);
  // One example at a time through the plain model, weighted by its completion's length.
  CollateOptions layout;
  layout.decoder_only = true;
  double sum = 0, tokens = 0;
  torch::NoGradGuard no_grad;
  model->eval();
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const double n = static_cast<double>(examples[i].target.size());
    sum += Backbone(model).forward(collate(examples, {i}, 0, layout)).loss.item<double>() * n;
    tokens += n;
  }
  EXPECT_NEAR(metrics.at("loss"), sum / tokens, 1e-5);
  EXPECT_NEAR(metrics.at("perplexity") / std::exp(sum / tokens), 1.0, 1e-5);
  EXPECT_DOUBLE_EQ(metrics.at("score"), -metrics.at("loss"));
}

TEST(DecoderOnlyData, GlueIsPromptsWithLabelWords) {
  TaskSpec task;
  task.task = "rte";
  task.data = std::string(LADDER_TEST_DATA) + "/glue_samples";
  task.decoder_only = true;
  const data::Dataset train = load_split(task, "train");
  ASSERT_FALSE(train.examples.empty());
  for (const auto& e : train.examples) {
    EXPECT_EQ(e.source.substr(e.source.size() - 7), "\nlabel:") << e.source;
    EXPECT_TRUE(e.target == "entailment" || e.target == "not_entailment") << e.target;
  }
  EXPECT_EQ(task_labels(task), (std::vector<std::string>{"entailment", "not_entailment"}));
  EXPECT_EQ(format_input(task, "A\tB"), "rte sentence1: A sentence2: B\nlabel:");
  EXPECT_EQ(format_input(task, "rte sentence1: A sentence2: B\nlabel:"), "rte sentence1: A sentence2: B\nlabel:");
  // Words are mapped back to the labels before scoring; anything else is wrong.
  const auto right = score_predictions(task, {" entailment", "not_entailment"}, {"entailment", "not_entailment"});
  EXPECT_DOUBLE_EQ(right.at("accuracy"), 1.0);
  const auto half = score_predictions(task, {"entailment", "maybe"}, {"entailment", "not_entailment"});
  EXPECT_DOUBLE_EQ(half.at("accuracy"), 0.5);
  // The same task for a T5 keeps its label strings.
  task.decoder_only = false;
  EXPECT_EQ(task_labels(task), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(glue_label_words("sst2"), (std::vector<std::string>{"negative", "positive"}));
  EXPECT_TRUE(glue_label_words("stsb").empty());
  // A run records that its examples are prompts.
  task.decoder_only = true;
  EXPECT_TRUE(TaskSpec::from_json(task.to_json(), "run.json").decoder_only);
}

struct Learned {
  double first_loss = 0, last_loss = 0, exact_match = 0;
};

// stories260K ends a text by predicting <s> (1): llama2.c's data separates stories by it, and
// run.c stops there. Its </s> (2) never occurs in that data and keeps its initial embedding, a
// twin of <unk> and the byte tokens (L2 distance < 1e-3), so the converter makes <s> the end of
// text (eos_token_id 1) and completions are learned with the end the model already knows.
TEST(DecoderOnlyData, StoriesEndsItsTextsWithItsStartToken) {
  TempDir dir;
  LlamaForCausalLM model = load_causal_lm(test::stories_folder(dir)).model;
  EXPECT_EQ(model->config.eos_token_ids, (std::vector<int64_t>{1}));
  torch::NoGradGuard no_grad;
  model->eval();
  // Told from <s> alone, its greedy story ends where it predicts <s>, as run.c's does (after 345
  // tokens); it never writes </s>.
  GenerationOptions options;
  options.max_new_tokens = 500;
  const torch::Tensor story =
      greedy_generate(*start_causal_decoding(*model, true), torch::tensor({int64_t{1}}).unsqueeze(0), {}, model->config, options)[0];
  const torch::Tensor ends = (story == 1).nonzero();
  ASSERT_EQ(ends.size(0), 1) << "no end within 500 tokens";
  const int64_t end = ends[0][0].item<int64_t>();
  EXPECT_GT(end, 256);  // past the 256 tokens run.c's story pins (345 here on libtorch 1.13)
  EXPECT_EQ((story.narrow(0, 0, end) == 2).sum().item<int64_t>(), 0);
  CausalLMBatch batch;
  batch.input_ids = torch::cat({torch::tensor({int64_t{1}}), story.narrow(0, 0, end)}).unsqueeze(0);
  const torch::Tensor next = model->forward(batch).logits[0][-1].softmax(-1);
  EXPECT_GT(next[1].item<double>(), 100 * next[2].item<double>());
}

// `steps` updates of `method` on the completion task, then greedy completions of its prompts.
Learned learn_completions(const std::string& method_name, nlohmann::json settings, const TempDir& dir,
                          int64_t steps, double lr) {
  LlamaForCausalLM model = load_causal_lm(test::stories_folder(dir)).model;
  auto method = make_method(model, method_options(method_name, std::move(settings)));
  const Llama2cTokenizer tokenizer = stories_tokenizer();
  TaskSpec task;
  task.task = "custom";
  task.kind = "seq2seq";
  task.decoder_only = true;
  TrainData data;
  data.train = tokenize_completions(completion_task(), tokenizer, Llama2cTokenizer::kBosId, 16, 8);
  data.validation = data.train;
  for (const auto& e : completion_task()) data.validation_references.push_back(e.target);
  TrainOptions options;
  options.learning_rate = lr;
  options.warmup_steps = 0;
  options.batch_size = 4;
  options.max_steps = steps;
  options.log_every = 1;
  options.eval_every = steps;
  Trainer trainer(*method, tokenizer, task, data, options, dir / "run", torch::kCPU);
  size_t longest = 0;  // the longest completion and its end
  for (const auto& e : completion_task()) longest = std::max(longest, tokenizer.encode(e.target).size() + 1);
  EXPECT_EQ(trainer.max_new_tokens(), static_cast<int64_t>(longest));
  const TrainResult result = trainer.run();
  Learned learned;
  std::ifstream log(dir / "run/log.jsonl");
  for (std::string line; std::getline(log, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["type"] != "train") continue;
    if (record["step"] == 1) learned.first_loss = record["loss"].get<double>();
    learned.last_loss = record["loss"].get<double>();
  }
  learned.exact_match = result.metrics["last"]["metrics"]["exact_match"].get<double>();
  return learned;
}

TEST(DecoderOnlyTraining, LoraLearnsTheCompletions) {
  TempDir dir;
  const Learned lora = learn_completions("lora", {{"r", 8}}, dir, /*steps=*/60, /*lr=*/1e-2);
  EXPECT_LT(lora.last_loss, 0.01 * lora.first_loss) << lora.first_loss << " -> " << lora.last_loss;
  EXPECT_DOUBLE_EQ(lora.exact_match, 1.0) << "final training loss " << lora.last_loss;
}

TEST(DecoderOnlyTraining, LstLearnsTheCompletionsFromItsFisherInitialisation) {
  TempDir dir;
  const Learned lst = learn_completions("lst", {{"reduction", 4}}, dir, /*steps=*/60, /*lr=*/1e-2);
  EXPECT_LT(lst.last_loss, 0.01 * lst.first_loss) << lst.first_loss << " -> " << lst.last_loss;
  EXPECT_DOUBLE_EQ(lst.exact_match, 1.0) << "final training loss " << lst.last_loss;
  // The Fisher initialisation ran on the training examples and was recorded.
  EXPECT_EQ(load_training_state(dir / "run/last").side_init_done, "fisher");
}

// A plain-text run (tokenizer file, .txt data) interrupted and resumed equals a straight one.
TEST(DecoderOnlyTraining, APlainTextRunResumesExactly) {
  TempDir dir;
  const std::string model = test::stories_folder(dir);
  {
    std::ofstream text(dir / "stories.txt");
    for (int i = 0; i < 12; ++i) text << "Once upon a time the layers " << i << " sat on the mat.\n\n";
  }
  RunConfig config;
  config.model = model;
  config.task.task = "custom";
  config.task.kind = "text";
  config.task.data = dir / "stories.txt";
  config.method = "lora";
  config.train.learning_rate = 1e-2;
  config.train.batch_size = 4;
  config.train.max_steps = 6;
  config.train.eval_every = 3;
  config.train.log_every = 1;
  RunContext straight;
  const TrainResult whole = start_run(config, dir / "straight", straight);
  const auto recorded = load_run_config(dir / "straight");
  EXPECT_TRUE(recorded.task.decoder_only);
  EXPECT_EQ(recorded.task.kind, "text");
  const auto& metrics = whole.metrics["last"]["metrics"];
  EXPECT_NEAR(metrics["score"].get<double>(), -metrics["loss"].get<double>(), 1e-12);
  EXPECT_GT(metrics["perplexity"].get<double>(), 1.0);

  RunContext interrupted;
  interrupted.hooks.stop = [](int64_t step) { return step == 4 ? 15 : 0; };
  EXPECT_THROW(start_run(config, dir / "resumed", interrupted), TrainingInterrupted);
  const TrainResult rest = resume_run(dir / "resumed", RunContext{});
  EXPECT_TRUE(rest.state.finished);
  const auto a = read_safetensors(dir / "straight/last/adapter_model.safetensors");
  const auto b = read_safetensors(dir / "resumed/last/adapter_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(torch::equal(tensor, b.at(name))) << name;
  EXPECT_EQ(rest.metrics["last"]["metrics"], whole.metrics["last"]["metrics"]);

  // Plain text is for decoder-only models.
  config.model = test::fixture_dir("t5-tiny-v1_0");
  config.tokenizer = test::fixture_dir("tiny-tokenizer") + "/spiece.model";
  EXPECT_TRUE(test::contains(test::error_of<UsageError>([&] { start_run(config, dir / "t5", RunContext{}); }),
                             "needs a decoder-only model"));
}

}  // namespace
}  // namespace ladder::train
