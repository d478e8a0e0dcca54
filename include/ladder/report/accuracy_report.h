#pragma once
// The accuracy table of `ladder bench accuracy`: fine-tuning runs (made by `ladder train` and
// scored by `ladder eval --split test`) grouped by backbone, task and method, as a Markdown
// table, JSON and an SVG/HTML chart of training memory against score (the paper's Figure 1).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/report/svg_canvas.h"

namespace ladder::report {

// One finished run directory.
struct RunRecord {
  std::string dir;
  std::string backbone;  // the first folder below the root, e.g. "pretrained" or "random"
  std::string model, task, method;  // task: run.json's, or "text" for a plain-text (language model) run
  uint64_t seed = 0;
  double test_score = 0;           // the task's score on the test split (eval_test.json)
  nlohmann::json test_metrics;     // every test metric
  int64_t test_examples = -1;      // examples the test score is over (eval_test.json), -1 when unknown
  int64_t trainable_parameters = 0, backbone_parameters = 0;
  int64_t peak_bytes = 0;          // training peak (CPU: process peak RSS; CUDA: allocator peak)
  double train_seconds = -1;       // wall time of `ladder train` (bench.json), -1 when unknown
  double step_seconds = -1;        // mean seconds per update, training only (log.jsonl's eta), -1 when unknown
};

// A task scored by test perplexity (lower is better): "text", the language-model runs of
// `ladder train --task text`. Its cells hold perplexities, not scores, and it is left out of
// the average over tasks and the chart (a perplexity is not on the same scale as an accuracy).
bool is_perplexity_task(const std::string& task);

// Every run below `root` (any depth): a folder with run.json, metrics.json and eval_test.json.
// Unfinished runs or runs without a test evaluation are listed in `skipped`; a malformed file
// is a FormatError naming it.
std::vector<RunRecord> collect_runs(const std::string& root, std::vector<std::string>* skipped = nullptr);

struct Spread {
  int count = 0;
  double mean = 0, stddev = 0, min = 0, max = 0;  // stddev: sample (n - 1), 0 for one run
};
Spread spread_of(const std::vector<double>& values);

// All seeds of one backbone x task x method.
struct Cell {
  std::string backbone, task, method;
  Spread score;  // the test score; for a perplexity task the test perplexity
  std::vector<uint64_t> seeds;
  std::vector<int64_t> test_examples;  // per seed, as the runs recorded them (-1: unknown)
  double trainable_percent = 0;
  double peak_mib = 0;        // mean over seeds
  double train_seconds = -1;  // mean over seeds, -1 when unknown
  double step_seconds = -1;   // mean over seeds, -1 when unknown
};
std::vector<Cell> summarize(const std::vector<RunRecord>& runs);

// The Markdown report: per task, one row per method, one score column per backbone (mean ± sd
// over seeds), each backbone minus "random", then trainable %, peak, time and time per update of
// the first backbone; an average over the tasks that are not perplexity tasks; LST against LoRA
// and full fine-tuning per task and backbone.
std::string markdown_report(const std::vector<Cell>& cells, const std::string& title);
nlohmann::json json_report(const std::vector<Cell>& cells, const std::vector<RunRecord>& runs);
// The cells of a json_report, so that the chart can be redrawn from accuracy.json alone.
std::vector<Cell> cells_from_json(const nlohmann::json& report);
// Training peak (x) against the score averaged over tasks (y; perplexity tasks left out), one point
// per method and backbone;
// labels placed clear of each other and of the markers, the legend right of the plot.
SvgCanvas accuracy_chart(const std::vector<Cell>& cells, const std::string& title);
std::string svg_chart(const std::vector<Cell>& cells, const std::string& title);
std::string html_page(const std::string& title, const std::string& svg, const std::string& markdown);

}  // namespace ladder::report
