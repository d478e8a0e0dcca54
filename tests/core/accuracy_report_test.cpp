// The accuracy table from hand-made run folders: grouping, spreads, skipping, errors, output.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "ladder/error.h"
#include "ladder/report/accuracy_report.h"

namespace {
namespace fs = std::filesystem;
using namespace ladder::report;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A finished run as ladder train + ladder eval --split test leave it.
void make_run(const fs::path& dir, const std::string& model, const std::string& task, const std::string& method,
              int seed, double score, int64_t peak_mib, bool finished = true, bool tested = true) {
  write(dir / "run.json", "{\"model\": \"" + model + "\", \"method\": \"" + method + "\", \"task\": {\"task\": \"" + task +
                              "\"}, \"training\": {\"seed\": " + std::to_string(seed) + "}}");
  write(dir / "metrics.json", std::string("{\"finished\": ") + (finished ? "true" : "false") +
                                  ", \"trainable_parameters\": 25, \"backbone_parameters\": 1000, \"peak_bytes\": " +
                                  std::to_string(peak_mib * 1024 * 1024) + "}");
  // The test split's size; seed 2 was scored on a --max-eval-examples subset.
  const int examples = seed == 2 ? 200 : 277;
  if (tested)
    write(dir / "eval_test.json", "{\"examples\": " + std::to_string(examples) + ", \"metrics\": {\"accuracy\": 0.1, \"score\": " +
                                      std::to_string(score) + "}}");
  write(dir / "bench.json", "{\"train_wall_seconds\": " + std::to_string(10 * seed) + "}");
}

// A `ladder train --task text` run: run.json says custom of kind text, the test metrics carry the
// loss, its perplexity and score = -loss; log.jsonl has the trainer's progress lines.
void make_text_run(const fs::path& dir, const std::string& method, int seed, double perplexity, int64_t peak_mib,
                   double eta_at_10_of_20) {
  write(dir / "run.json", "{\"model\": \"m\", \"method\": \"" + method +
                              "\", \"task\": {\"task\": \"custom\", \"kind\": \"text\"}, \"training\": {\"seed\": " +
                              std::to_string(seed) + "}}");
  write(dir / "metrics.json", "{\"finished\": true, \"trainable_parameters\": 50, \"backbone_parameters\": 1000, "
                              "\"peak_bytes\": " + std::to_string(peak_mib * 1024 * 1024) + "}");
  const std::string loss = std::to_string(std::log(perplexity));
  write(dir / "eval_test.json", "{\"metrics\": {\"loss\": " + loss + ", \"perplexity\": " + std::to_string(perplexity) +
                                    ", \"score\": -" + loss + "}}");
  write(dir / "log.jsonl",
        "{\"type\": \"train\", \"step\": 10, \"total_steps\": 20, \"eta_seconds\": " + std::to_string(eta_at_10_of_20) +
            "}\n{\"type\": \"eval\", \"step\": 10}\n{\"type\": \"train\", \"step\": 20, \"total_steps\": 20, "
            "\"eta_seconds\": 0}\n");
}

// The fixture plus plain-text runs: lst perplexity 30 and 40 on pretrained, 80 on random; lora 36.
void add_text_runs(const fs::path& root) {
  make_text_run(root / "pretrained/text/lst/seed1", "lst", 1, 30, 100, 5.0);   // 0.5 s per update
  make_text_run(root / "pretrained/text/lst/seed2", "lst", 2, 40, 100, 7.0);   // 0.7
  make_text_run(root / "random/text/lst/seed1", "lst", 1, 80, 100, 5.0);
  make_text_run(root / "pretrained/text/lora/seed1", "lora", 1, 36, 200, 9.0);
}

class AccuracyReport : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / ("ladder_accuracy_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    // pretrained: lst 0.80 and 0.90 on rte (mean 0.85, sample sd 0.0707107), full 0.70 once.
    make_run(root_ / "pretrained/rte/lst/seed1", "m", "rte", "lst", 1, 0.80, 100);
    make_run(root_ / "pretrained/rte/lst/seed2", "m", "rte", "lst", 2, 0.90, 120);
    make_run(root_ / "pretrained/rte/full/seed1", "m", "rte", "full", 1, 0.70, 400);
    make_run(root_ / "pretrained/sst2/lst/seed1", "m", "sst2", "lst", 1, 0.60, 90);
    make_run(root_ / "random/rte/lst/seed1", "arch:m", "rte", "lst", 1, 0.50, 100);
    make_run(root_ / "random/sst2/lst/seed1", "arch:m", "sst2", "lst", 1, 0.40, 100);
    make_run(root_ / "random/rte/full/seed3", "arch:m", "rte", "full", 3, 0.55, 390, /*finished=*/false);
    make_run(root_ / "random/rte/full/seed4", "arch:m", "rte", "full", 4, 0.55, 390, true, /*tested=*/false);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(AccuracyReport, CollectsFinishedTestedRunsOnly) {
  std::vector<std::string> skipped;
  const auto runs = collect_runs(root_.string(), &skipped);
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(skipped.size(), 2u);
  EXPECT_EQ(runs[0].backbone, "pretrained");
  EXPECT_EQ(runs[0].task, "rte");
  EXPECT_EQ(runs[0].method, "full");
  EXPECT_DOUBLE_EQ(runs[0].test_score, 0.70);
  EXPECT_EQ(runs[0].peak_bytes, 400 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(runs[0].train_seconds, 10);
  EXPECT_EQ(runs.back().backbone, "random");
}

TEST_F(AccuracyReport, SpreadsOverSeeds) {
  const Spread s = spread_of({0.80, 0.90});
  EXPECT_EQ(s.count, 2);
  EXPECT_NEAR(s.mean, 0.85, 1e-12);
  EXPECT_NEAR(s.stddev, 0.0707106781, 1e-9);  // sqrt((0.05^2 * 2) / 1)
  EXPECT_DOUBLE_EQ(s.min, 0.80);
  EXPECT_DOUBLE_EQ(s.max, 0.90);
  EXPECT_DOUBLE_EQ(spread_of({0.3}).stddev, 0.0);

  const auto cells = summarize(collect_runs(root_.string()));
  ASSERT_EQ(cells.size(), 5u);
  // Task order sst2 before rte; method order full before lst; pretrained before random.
  EXPECT_EQ(cells[0].task, "sst2");
  EXPECT_EQ(cells[2].task, "rte");
  EXPECT_EQ(cells[2].method, "full");
  const Cell& lst = cells[3];
  EXPECT_EQ(lst.backbone, "pretrained");
  EXPECT_EQ(lst.method, "lst");
  EXPECT_NEAR(lst.score.mean, 0.85, 1e-12);
  EXPECT_NEAR(lst.peak_mib, 110, 1e-9);
  EXPECT_NEAR(lst.train_seconds, 15, 1e-9);
  EXPECT_NEAR(lst.trainable_percent, 2.5, 1e-12);
  EXPECT_EQ(lst.seeds, (std::vector<uint64_t>{1, 2}));
}

TEST_F(AccuracyReport, MarkdownAndChart) {
  const auto cells = summarize(collect_runs(root_.string()));
  const std::string md = markdown_report(cells, "T");
  EXPECT_NE(md.find("## rte — accuracy (200 to 277 test examples)"), std::string::npos) << md;
  EXPECT_NE(md.find("## sst2 — accuracy (277 test examples)"), std::string::npos) << md;
  EXPECT_NE(md.find("| lst | 2.500 | 85.0 ± 7.1 (2 seeds) | 50.0 (1 seed) | 35.0 | 110 | 15 |"), std::string::npos) << md;
  // full has no random run: its cells say so instead of inventing a number.
  EXPECT_NE(md.find("| full | 2.500 | 70.0 (1 seed) | — | — | 400 | 10 |"), std::string::npos) << md;
  // Average over tasks: lst pretrained (85 + 60) / 2, random (50 + 40) / 2; full lacks sst2.
  EXPECT_NE(md.find("| lst | 72.5 | 45.0 | 27.5 | 100 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| full | — | — | — | — |"), std::string::npos) << md;
  EXPECT_NE(md.find("| pretrained − random |"), std::string::npos) << md;

  const std::string svg = svg_chart(cells, "T <&>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("T &lt;&amp;&gt;"), std::string::npos);
  // Points only for complete methods: lst on both backbones, plus two legend markers.
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 4u);
  EXPECT_NE(svg.find("lst (pretrained): 72.5 at 100 MiB"), std::string::npos) << svg;
  EXPECT_NE(html_page("T", svg, md).find("<pre"), std::string::npos);
}

TEST_F(AccuracyReport, ThirdBackboneThroughASymlinkIsComparedWithRandom) {
  const fs::path elsewhere = root_.string() + "_elsewhere";
  fs::remove_all(elsewhere);
  make_run(elsewhere / "rte/lst/seed1", "m2", "rte", "lst", 1, 0.65, 100);
  fs::create_directory_symlink(elsewhere, root_ / "wd");
  const auto cells = summarize(collect_runs(root_.string()));
  const std::string md = markdown_report(cells, "T");
  fs::remove_all(elsewhere);
  EXPECT_NE(md.find("| method | trainable % | pretrained | random | wd | pretrained − random | wd − random |"),
            std::string::npos) << md;
  // rte lst: pretrained 85, random 50, wd 65 -> differences 35 and 15.
  EXPECT_NE(md.find("| 85.0 ± 7.1 (2 seeds) | 50.0 (1 seed) | 65.0 (1 seed) | 35.0 | 15.0 |"), std::string::npos) << md;
  // wd has no sst2 run, so its average over tasks is not given.
  EXPECT_NE(md.find("| lst | 72.5 | 45.0 | — | 27.5 | — | 100 |"), std::string::npos) << md;
  EXPECT_NE(svg_chart(cells, "T").find("fill-opacity"), std::string::npos);
}

TEST_F(AccuracyReport, TextTaskIsScoredByPerplexityAndKeptOutOfTheAverage) {
  add_text_runs(root_);
  const auto runs = collect_runs(root_.string());
  ASSERT_EQ(runs.size(), 10u);
  const auto cells = summarize(runs);
  const Cell* lst = nullptr;
  for (const auto& c : cells)
    if (c.task == "text" && c.method == "lst" && c.backbone == "pretrained") lst = &c;
  ASSERT_NE(lst, nullptr) << "a --task text run is the task \"text\", not \"custom\"";
  EXPECT_TRUE(is_perplexity_task("text"));
  EXPECT_FALSE(is_perplexity_task("sst2"));
  EXPECT_NEAR(lst->score.mean, 35, 1e-4);  // perplexities, not scores (-loss)
  EXPECT_NEAR(lst->step_seconds, 0.6, 1e-9);  // (0.5 + 0.7) / 2 from the eta of the logs
  const std::string md = markdown_report(cells, "T");
  EXPECT_NE(md.find("## text — perplexity (lower is better)"), std::string::npos) << md;
  // pretrained 35 ± 7.07 over 2 seeds, random 80: pretrained − random = -45 perplexity.
  EXPECT_NE(md.find("| lst | 5.000 | 35.00 ± 7.07 (2 seeds) | 80.00 (1 seed) | -45.00 | 100 | — | 0.600 |"), std::string::npos)
      << md;
  // The average over tasks is unchanged by the text runs (still rte and sst2 only) and says so.
  EXPECT_NE(md.find("| lst | 72.5 | 45.0 | 27.5 | 100 |"), std::string::npos) << md;
  EXPECT_NE(md.find("Over sst2, rte only: perplexity tasks are not averaged with scores."), std::string::npos) << md;
  const std::string svg = svg_chart(cells, "T");
  EXPECT_NE(svg.find("lst (pretrained): 72.5 at 100 MiB"), std::string::npos) << svg;
  EXPECT_NE(svg.find("mean over sst2, rte"), std::string::npos) << svg;
}

TEST_F(AccuracyReport, LstAgainstLoraAndFull) {
  add_text_runs(root_);
  const std::string md = markdown_report(summarize(collect_runs(root_.string())), "T");
  EXPECT_NE(md.find("## LST against LoRA and full fine-tuning"), std::string::npos) << md;
  EXPECT_NE(md.find("| task | backbone | lst | lora | full | lst − lora | lst − full | peak lst / lora | peak lst / full |"),
            std::string::npos) << md;
  // rte, pretrained: lst 85 (peak 110) against full 70 (peak 400); no lora run there.
  EXPECT_NE(md.find("| rte | pretrained | 85.0 ± 7.1 (2 seeds) | — | 70.0 (1 seed) | — | 15.0 | — | 0.28 |"), std::string::npos)
      << md;
  // text, pretrained: lst perplexity 35 against lora 36 (peak 100 / 200): 1 lower.
  EXPECT_NE(md.find("| text | pretrained | 35.00 ± 7.07 (2 seeds) | 36.00 (1 seed) | — | -1.00 | — | 0.50 | — |"),
            std::string::npos) << md;
}

TEST_F(AccuracyReport, JsonKeepsPerplexityAndStepTime) {
  add_text_runs(root_);
  const auto runs = collect_runs(root_.string());
  const auto cells = summarize(runs);
  const nlohmann::json report = json_report(cells, runs);
  bool saw_text = false;
  for (const auto& c : report["cells"])
    if (c["task"] == "text") {
      saw_text = true;
      EXPECT_EQ(c["unit"], "perplexity");
    }
  EXPECT_TRUE(saw_text);
  EXPECT_EQ(markdown_report(cells_from_json(report), "T"), markdown_report(cells, "T"));
  // accuracy.json written before step times were recorded still reads (step time unknown).
  nlohmann::json old = report;
  for (auto& c : old["cells"]) c.erase("step_seconds");
  for (const auto& c : cells_from_json(old)) EXPECT_EQ(c.step_seconds, -1);
}

TEST_F(AccuracyReport, ErrorsNameTheFile) {
  write(root_ / "pretrained/rte/lst/seed1/eval_test.json", "{\"metrics\": {\"accuracy\": 0.5}}");
  try {
    collect_runs(root_.string());
    FAIL() << "expected a FormatError";
  } catch (const ladder::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("seed1/eval_test.json"), std::string::npos) << e.what();
  }
  write(root_ / "pretrained/rte/lst/seed1/eval_test.json", "{not json");
  EXPECT_THROW(collect_runs(root_.string()), ladder::FormatError);
  EXPECT_THROW(collect_runs((root_ / "nothing").string()), ladder::UsageError);
}

}  // namespace
