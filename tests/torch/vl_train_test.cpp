// Vision-language training data path: task specs, multi-task loading, round-robin batches,
// the authors' sampled VQA targets, visual features per batch, scoring, and the CLI end to end
// on the synthetic image world's fixture (tests/data/vl_world, made by bench/vl_world.py).
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "ladder/data/vl/features.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/batching.h"
#include "ladder/train/task_data.h"
#include "ladder/train/visual_features.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;

std::string world() { return std::string(LADDER_TEST_DATA) + "/vl_world"; }
std::string world_features() { return world() + "/features.safetensors"; }

train::TaskSpec vl_task(const std::string& tasks) {
  train::TaskSpec t;
  t.task = tasks;
  t.data = world();
  t.features = world_features();
  t.visual_tokens = 36;
  return t;
}

T5Tokenizer tiny_tokenizer() { return T5Tokenizer::load(test::fixture_dir("tiny-tokenizer") + "/spiece.model"); }

TEST(VlTaskSpec, NamesAndRoundTrip) {
  EXPECT_TRUE(vl_task("vqa").is_vl());
  EXPECT_TRUE(vl_task("vqa,gqa,nlvr,caption").is_vl());
  train::TaskSpec rte;
  rte.task = "rte";
  EXPECT_FALSE(rte.is_vl());
  EXPECT_TRUE(rte.is_glue());
  EXPECT_FALSE(vl_task("vqa,rte").is_vl());
  EXPECT_FALSE(vl_task("nlvr").is_glue());
  EXPECT_THROW(vl_task("vqa,vqa").vl_tasks(), UsageError);
  const train::TaskSpec t = vl_task("gqa,caption");
  const train::TaskSpec back = train::TaskSpec::from_json(t.to_json(), "test");
  EXPECT_EQ(back.task, "gqa,caption");
  EXPECT_EQ(back.features, world_features());
  EXPECT_EQ(back.visual_tokens, 36);
  EXPECT_EQ(back.answer_targets, "sample");
  EXPECT_EQ(back.vl_tasks(), (std::vector<std::string>{"gqa", "caption"}));
}

TEST(VlTaskData, MultiTaskSplitsCarryImagesAnswersAndPrompts) {
  const data::Dataset all = train::load_split(vl_task("vqa,gqa,nlvr,caption"), "train");
  std::map<std::string, int> per_task;
  for (const auto& e : all.examples) {
    ++per_task[e.vl_task];
    if (e.vl_task == "nlvr") {
      EXPECT_EQ(e.image_ids.size(), 2u);
      EXPECT_TRUE(e.target == "true" || e.target == "false") << e.target;
      EXPECT_EQ(e.source.rfind("nlvr: ", 0), 0u);
    } else {
      EXPECT_EQ(e.image_ids.size(), 1u);
    }
    if (e.vl_task == "vqa" || e.vl_task == "gqa") EXPECT_FALSE(e.answers.empty());
    if (e.vl_task == "gqa") EXPECT_EQ(e.source.rfind("gpa: ", 0), 0u);  // the authors' prompt, sic
    if (e.vl_task == "caption") EXPECT_FALSE(e.references.empty());
  }
  EXPECT_EQ(per_task.size(), 4u);
  // One task's folder given directly works as well as the root.
  train::TaskSpec one = vl_task("vqa");
  one.data = world() + "/vqa";
  EXPECT_EQ(static_cast<int>(train::load_split(one, "validation").examples.size()),
            static_cast<int>(train::load_split(vl_task("vqa"), "validation").examples.size()));
  // Limits apply per task.
  train::TaskSpec limited = vl_task("vqa,nlvr");
  limited.max_train_examples = 3;
  EXPECT_EQ(train::load_split(limited, "train").examples.size(), 6u);
}

TEST(VlTaskData, SkipMalformedDropsEmptyLabelsOnlyWhenAsked) {
  test::TempDir dir;
  fs::create_directories(dir / "vqa");
  const std::string rows = R"([{"img_id": "a", "sent": "what?", "question_id": 1, "label": {"red": 1.0}},
                                {"img_id": "b", "sent": "why?", "question_id": 2, "label": {}}])";
  for (const char* name : {"train.json", "val.json"}) std::ofstream(dir / ("vqa/" + std::string(name))) << rows;
  train::TaskSpec task = vl_task("vqa");
  task.data = dir.path().string();
  try {
    train::load_split(task, "train");
    FAIL() << "an empty label set was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("train.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2"), std::string::npos) << e.what();
  }
  task.skip_malformed = true;
  EXPECT_EQ(train::load_split(task, "train").examples.size(), 1u);
  EXPECT_TRUE(train::TaskSpec::from_json(task.to_json(), "test").skip_malformed);
}

TEST(VlBatching, EveryBatchHoldsOneTaskAndTheEpochCoversAll) {
  const data::Dataset all = train::load_split(vl_task("vqa,nlvr,caption"), "train");
  const auto examples = train::tokenize_examples(all.examples, tiny_tokenizer(), 32, 16);
  std::set<int64_t> groups;
  for (const auto& e : examples) groups.insert(e.group);
  EXPECT_EQ(groups, (std::set<int64_t>{0, 1, 2}));
  for (bool bucket : {false, true}) {
    const train::BatchingOptions options{5, bucket, 2};
    const auto batches = train::epoch_batches(examples, options, 7, 0);
    std::vector<int> seen(examples.size(), 0);
    std::set<int64_t> first_groups;
    for (const auto& batch : batches) {
      for (std::size_t i : batch) {
        EXPECT_EQ(examples[i].group, examples[batch.front()].group);
        ++seen[i];
      }
      first_groups.insert(examples[batch.front()].group);
    }
    for (int n : seen) EXPECT_EQ(n, 1);
    EXPECT_EQ(first_groups.size(), 3u);
    EXPECT_EQ(batches, train::epoch_batches(examples, options, 7, 0));  // a pure function of (seed, epoch)
    // The tasks are interleaved, not run one after the other.
    int switches = 0;
    for (std::size_t b = 1; b < batches.size(); ++b)
      switches += examples[batches[b].front()].group != examples[batches[b - 1].front()].group;
    EXPECT_GT(switches, 3);
  }
}

TEST(VlBatching, TrainingTargetsAreDrawnFromTheAnswerScores) {
  data::Example e;
  e.source = "vqa: what color is it?";
  e.target = "red";
  e.answers = {{"red", 0.9}, {"pink", 0.3}, {"blue", 0.0}};
  const T5Tokenizer tokenizer = tiny_tokenizer();
  const auto examples = train::tokenize_examples({e}, tokenizer, 32, 16);
  ASSERT_EQ(examples[0].answer_targets.size(), 3u);
  const auto red = tokenizer.encode("red", 16), pink = tokenizer.encode("pink", 16), blue = tokenizer.encode("blue", 16);
  int reds = 0, pinks = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    train::CollateOptions options;
    options.answer_seed = seed;
    const Seq2SeqBatch batch = train::collate(examples, {0}, 0, options);
    torch::Tensor row = batch.labels[0];
    std::vector<int64_t> ids;
    for (int64_t t = 0; t < row.size(0); ++t)
      if (row[t].item<int64_t>() != -100) ids.push_back(row[t].item<int64_t>());
    ASSERT_NE(ids, blue) << "an answer of score 0 is never drawn";
    reds += ids == red;
    pinks += ids == pink;
  }
  EXPECT_EQ(reds + pinks, 400);
  // P(red) = 0.9 / 1.2 = 0.75: 300 of 400 expected, 4 standard deviations are +-35.
  EXPECT_NEAR(reds, 300, 35);
  // Without a seed (evaluation, or --answer-targets top) the target is the top answer.
  const Seq2SeqBatch plain = train::collate(examples, {0}, 0);
  EXPECT_EQ(plain.labels[0].narrow(0, 0, static_cast<int64_t>(red.size())).equal(torch::tensor(red)), true);
}

TEST(VlFeatures, BatchesPoolEachImageAndOrderThem) {
  const data::Dataset nlvr = train::load_split(vl_task("nlvr"), "train");
  const auto examples = train::tokenize_examples(nlvr.examples, tiny_tokenizer(), 32, 16);
  auto source = std::shared_ptr<const data::FeatureSource>(data::open_feature_source(world_features()));
  train::VisualFeatures visual(source, 36);
  visual.check_images(examples, "nlvr train split");
  const VisualInput batch = visual.batch(examples, {0, 1});
  const int64_t D = visual.feature_dim();
  ASSERT_EQ(batch.features.sizes(), (std::vector<int64_t>{2, 72, D}));
  // Row 1's second image: its pooled grid, after the first image's 36 tokens.
  const data::FeatureMatrix pooled = data::pool_grid(source->read(examples[1].image_ids[1]), 6);
  torch::Tensor expected = torch::tensor(pooled.values).view({36, D});
  EXPECT_TRUE(batch.features[1].narrow(0, 36, 36).equal(expected));
  EXPECT_EQ(batch.image_order[1][35].item<int64_t>(), 0);
  EXPECT_EQ(batch.image_order[1][36].item<int64_t>(), 1);
  EXPECT_EQ(batch.object_order[1][36].item<int64_t>(), 0);
  EXPECT_EQ(batch.object_order[1][71].item<int64_t>(), 35);
  // As stored (0): the 7x7 grid's 49 rows per image.
  train::VisualFeatures raw(source, 0);
  raw.check_images(examples, "nlvr train split");
  EXPECT_EQ(raw.batch(examples, {0}).features.size(1), 98);
  EXPECT_THROW(train::VisualFeatures(source, 35), UsageError);  // not a square grid
  // An image the features lack: named, with the feature file.
  auto missing = examples;
  missing[0].image_ids[0] = "synth_999999";
  try {
    visual.check_images(missing, "nlvr train split");
    FAIL() << "a missing image was accepted";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("synth_999999"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("features.safetensors"), std::string::npos) << e.what();
  }
}

// The statistics --feature-norm standardize gives the visual embedding: mean and deviation per
// dimension over the distinct images the examples name, as the model reads them (pooled).
TEST(VlFeatures, StatisticsAreThoseOfTheExamplesImages) {
  const data::Dataset vqa = train::load_split(vl_task("vqa"), "train");
  const auto examples = train::tokenize_examples(vqa.examples, tiny_tokenizer(), 32, 16);
  auto source = std::shared_ptr<const data::FeatureSource>(data::open_feature_source(world_features()));
  train::VisualFeatures visual(source, 36);
  visual.check_images(examples, "vqa train split");
  const auto [mean, deviation] = visual.statistics(examples);
  std::set<std::string> ids;
  for (const auto& e : examples) ids.insert(e.image_ids.begin(), e.image_ids.end());
  std::vector<torch::Tensor> rows;
  for (const auto& id : ids) {
    const data::FeatureMatrix m = data::pool_grid(source->read(id), 6);
    rows.push_back(torch::tensor(m.values).view({m.rows, m.cols}));
  }
  const torch::Tensor all = torch::cat(rows).to(torch::kDouble);
  const torch::Tensor want_mean = all.mean(0), want_std = all.std(0, /*unbiased=*/false);
  ASSERT_EQ(static_cast<int64_t>(mean.size()), all.size(1));
  for (int64_t c = 0; c < all.size(1); ++c) {
    EXPECT_NEAR(mean[c], want_mean[c].item<double>(), 1e-5) << c;
    const double sd = want_std[c].item<double>();
    EXPECT_NEAR(deviation[c], sd > 1e-6 ? sd : 1.0, 1e-4) << c;
  }
  // At most max_images: the first ids in sorted order.
  const auto [first_mean, first_std] = visual.statistics(examples, 1);
  const data::FeatureMatrix first = data::pool_grid(source->read(*ids.begin()), 6);
  const torch::Tensor one = torch::tensor(first.values).view({first.rows, first.cols}).to(torch::kDouble);
  EXPECT_NEAR(first_mean[0], one.select(1, 0).mean().item<double>(), 1e-5);
}

// The ablation's swap: every example meets another image, examples of one image all meet the
// same other image, every image is still used once, and the swap is the same each time.
TEST(VlFeatures, SwapImagesGivesEveryQuestionAnotherImage) {
  const data::Dataset vqa = train::load_split(vl_task("vqa,nlvr"), "train");
  const auto examples = train::tokenize_examples(vqa.examples, tiny_tokenizer(), 32, 16);
  auto swapped = examples;
  train::swap_images(swapped);
  std::map<std::string, std::string> seen;
  std::set<std::string> before, after;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    ASSERT_EQ(swapped[i].image_ids.size(), examples[i].image_ids.size());
    for (std::size_t k = 0; k < examples[i].image_ids.size(); ++k) {
      const std::string& id = examples[i].image_ids[k];
      EXPECT_NE(swapped[i].image_ids[k], id) << "example " << i << " kept its image";
      auto [it, fresh] = seen.emplace(id, swapped[i].image_ids[k]);
      EXPECT_EQ(it->second, swapped[i].image_ids[k]) << id << " swapped for two different images";
      before.insert(id);
      after.insert(swapped[i].image_ids[k]);
    }
  }
  EXPECT_EQ(before, after) << "not a permutation of the split's images";
  auto again = examples;
  train::swap_images(again);
  for (std::size_t i = 0; i < examples.size(); ++i) EXPECT_EQ(again[i].image_ids, swapped[i].image_ids);
  std::vector<train::TokenizedExample> one_image(2, examples.front());
  one_image[1].image_ids = one_image[0].image_ids = {examples.front().image_ids.front()};
  EXPECT_THROW(train::swap_images(one_image), UsageError);
}

TEST(VlScoring, PerTaskMetricsAndThePapersAverage) {
  const data::Dataset all = train::load_split(vl_task("vqa,nlvr,caption"), "validation");
  std::vector<std::string> perfect, wrong;
  for (const auto& e : all.examples) {
    perfect.push_back(e.vl_task == "caption" ? e.references.front() : e.target);
    wrong.push_back("zebra");
  }
  const auto best = train::score_vl_predictions(perfect, all.examples);
  const auto worst = train::score_vl_predictions(wrong, all.examples);
  EXPECT_DOUBLE_EQ(best.at("nlvr_accuracy"), 1.0);
  EXPECT_GT(best.at("vqa_score"), 0.9);  // the top answer's label weight (1 unless annotators disagreed)
  EXPECT_GT(best.at("caption_cider"), 0.5);
  EXPECT_GT(best.at("caption_bleu4"), 0.3);
  EXPECT_NEAR(best.at("score"), (best.at("vqa_score") + best.at("nlvr_accuracy") + best.at("caption_cider")) / 3, 1e-12);
  EXPECT_EQ(worst.at("vqa_score"), 0.0);
  EXPECT_EQ(worst.at("nlvr_accuracy"), 0.0);
  EXPECT_LT(worst.at("caption_cider"), 0.05);
}

std::vector<std::string> vl_train_args(const std::string& run, const std::string& method) {
  return {"train", "--model", test::fixture_dir("t5-tiny-v1_0"), "--tokenizer",
          test::fixture_dir("tiny-tokenizer") + "/spiece.model", "--task", "vqa,nlvr", "--data", world(),
          "--features", world_features(), "--visual-tokens", "36", "--max-train-examples", "8",
          "--max-eval-examples", "3", "--batch-size", "4", "--max-steps", "2", "--num-beams", "2", "--out", run,
          "--threads", "1", "--method", method, "--settings", method == "lst" ? R"({"side_init": "magnitude"})" : "{}"};
}

TEST(VlCli, TrainsMultiTaskAndEvaluatesTheRun) {
  test::TempDir dir;
  for (const std::string method : {"lst", "adapter"}) {
    const std::string run = dir / ("run-" + method);
    test::CliResult train = test::run_cli(vl_train_args(run, method), dir);
    ASSERT_EQ(train.status, 0) << train.err;
    const nlohmann::json config = read_json_file(run + "/run.json");
    EXPECT_EQ(config["task"]["features"], world_features());
    EXPECT_EQ(config["training"]["num_beams"], 2);
    EXPECT_EQ(config["training"]["max_grad_norm"], 5.0);  // the authors' VL recipe
    if (method == "lst") EXPECT_EQ(config["settings"]["reduction"], 4);
    const nlohmann::json adapter = read_json_file(run + "/best/ladder_config.json");
    EXPECT_GT(adapter["visual"]["feature_dim"].get<int64_t>(), 0);
    // Standardised features by default: the training images' statistics travel with the method.
    EXPECT_EQ(config["task"]["feature_norm"], "standardize");
    EXPECT_EQ(adapter["visual"]["feature_mean"].size(), adapter["visual"]["feature_dim"].get<std::size_t>());
    if (method == "lst") EXPECT_EQ(adapter["settings"]["visual_stream"], "scaled");
    const nlohmann::json metrics = read_json_file(run + "/metrics.json");
    EXPECT_TRUE(metrics["last"]["metrics"].contains("vqa_score")) << metrics.dump();
    EXPECT_TRUE(metrics["last"]["metrics"].contains("nlvr_accuracy")) << metrics.dump();
    test::CliResult eval = test::run_cli({"eval", "--run", run, "--split", "test", "--threads", "1"}, dir);
    ASSERT_EQ(eval.status, 0) << eval.err;
    EXPECT_NE(eval.out.find("vqa_score"), std::string::npos) << eval.out;
    // The image ablation and another copy of the features: printed, not recorded as the run's score.
    fs::copy_file(world_features(), dir / "copy.safetensors", fs::copy_options::overwrite_existing);
    fs::remove(run + "/eval_test.json");
    test::CliResult swapped = test::run_cli({"eval", "--run", run, "--split", "test", "--threads", "1", "--swap-images",
                                             "--features", dir / "copy.safetensors"}, dir);
    ASSERT_EQ(swapped.status, 0) << swapped.err;
    const nlohmann::json ablation = nlohmann::json::parse(swapped.out);
    EXPECT_EQ(ablation["swapped_images"], true);
    EXPECT_EQ(ablation["features"], dir / "copy.safetensors");
    EXPECT_NE(swapped.err.find("every image swapped for another"), std::string::npos) << swapped.err;
    EXPECT_FALSE(fs::exists(run + "/eval_test.json"));
    // Per-example predictions: one line per example, the images the model saw, the answers.
    test::CliResult listed = test::run_cli({"eval", "--run", run, "--split", "test", "--threads", "1", "--predictions",
                                            dir / "predictions.jsonl"}, dir);
    ASSERT_EQ(listed.status, 0) << listed.err;
    const nlohmann::json summary = nlohmann::json::parse(listed.out);
    EXPECT_FALSE(summary.contains("predictions"));
    EXPECT_FALSE(read_json_file(run + "/eval_test.json").contains("predictions"));
    std::ifstream lines(dir / "predictions.jsonl");
    std::string line;
    int64_t rows = 0;
    while (std::getline(lines, line)) {
      const nlohmann::json row = nlohmann::json::parse(line);
      EXPECT_EQ(row["index"], rows);
      EXPECT_TRUE(row.contains("prediction") && row.contains("source") && row.contains("images")) << line;
      if (row["task"] == "vqa") EXPECT_TRUE(row["answers"].is_object()) << line;
      ++rows;
    }
    EXPECT_EQ(rows, summary["examples"].get<int64_t>());
    // predict reads IMAGE_ID<TAB>TEXT; NLVR2's two images as ID,ID.
    const data::Dataset val = train::load_split(vl_task("vqa,nlvr"), "validation");
    const std::string one = val.examples.front().image_ids[0] + "\tvqa: how many objects are in the picture?";
    const std::string two = val.examples.back().image_ids[0] + "," + val.examples.back().image_ids[1] +
                            "\tnlvr: both images contain a red object.";
    test::CliResult predicted = test::run_cli({"predict", "--run", run, "--threads", "1", one, two}, dir);
    ASSERT_EQ(predicted.status, 0) << predicted.err;
    EXPECT_EQ(std::count(predicted.out.begin(), predicted.out.end(), '\n'), 2) << predicted.out;
    test::CliResult no_image = test::run_cli({"predict", "--run", run, "--threads", "1", "vqa: what?"}, dir);
    EXPECT_NE(no_image.status, 0);
    EXPECT_NE(no_image.err.find("IMAGE_ID<TAB>TEXT"), std::string::npos) << no_image.err;
  }
}

TEST(VlCli, RefusesWhatCannotWork) {
  test::TempDir dir;
  auto args = vl_train_args(dir / "run", "lst");
  // No features: named flag.
  auto no_features = args;
  const auto at = std::find(no_features.begin(), no_features.end(), "--features");
  no_features.erase(at, at + 2);
  test::CliResult r = test::run_cli(no_features, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--features"), std::string::npos) << r.err;
  // Sampled VQA targets and a backbone-state cache do not mix; the top answer does.
  auto cached = vl_train_args(dir / "cached", "lst");
  cached.back() = R"({"side_init": "magnitude", "backbone_dropout": false})";
  cached.push_back("--cache-backbone");
  r = test::run_cli(cached, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--answer-targets top"), std::string::npos) << r.err;
  auto top = vl_train_args(dir / "top", "lst");
  top.back() = R"({"side_init": "magnitude", "backbone_dropout": false})";
  top.insert(top.end(), {"--cache-backbone", "--answer-targets", "top"});
  r = test::run_cli(top, dir);
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(VlCli, InspectCountsTheVisualEmbedding) {
  test::TempDir dir;
  test::CliResult r =
      test::run_cli({"inspect", "arch:t5-small", "--method", "lst", "--task", "vqa", "--threads", "1"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"reduction\":4"), std::string::npos) << r.out;
  // 2048 x 512 + 512 (feature projection) + 512 (its norm) + 5 x 512 + 512 + 512 (box) + 2 x 512 (image order)
  EXPECT_NE(r.out.find("visual embedding 1054208 trainable parameters"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("side encoder only"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ladder
