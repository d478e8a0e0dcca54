// `ladder bench memory`: one training step per method, each in a fresh child process (so
// peaks do not mix), printed as one table and optionally written as JSON.
#include <algorithm>
#include <cstdio>
#include <map>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "commands.h"
#include "ladder/dist/allreduce_bench.h"
#include "ladder/error.h"
#include "ladder/methods/method.h"
#include "ladder/models/t5/load.h"
#include "ladder/io/atomic_file.h"
#include "ladder/io/json_file.h"
#include "ladder/runtime/benchmark.h"
#include "ladder/runtime/memory.h"
#include "ladder/report/accuracy_report.h"
#include "ladder/report/bench_chart.h"
#include "runtime_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) items.push_back(item);
  return items;
}

std::string self_path() {
  char buffer[4096];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) throw Error("bench: cannot find the ladder executable (/proc/self/exe)");
  return std::string(buffer, static_cast<size_t>(n));
}

runtime::BenchRecord run_child(const runtime::BenchConfig& c, int threads) {
  std::ostringstream cmd;
  cmd << shell_quote(self_path()) << " bench step --model " << shell_quote(c.model) << " --method " << shell_quote(c.method)
      << " --settings " << shell_quote(c.settings) << " --batch " << c.batch << " --src-len " << c.source_length
      << " --tgt-len " << c.target_length << " --warmup " << c.warmup_steps << " --steps " << c.timed_steps
      << " --device " << c.device << " --precision " << c.precision << " --seed " << c.seed << " --threads " << threads
      << (c.cached_states ? " --cached-states" : "") << (c.release_blocks ? " --release-blocks" : "");
  if (!c.backbone_dtype.empty()) cmd << " --backbone-dtype " << c.backbone_dtype;
  if (c.return_freed_memory) cmd << " --return-freed-memory";
  if (c.visual_tokens > 0) cmd << " --visual-tokens " << c.visual_tokens << " --feature-dim " << c.feature_dim;
  FILE* pipe = ::popen(cmd.str().c_str(), "r");
  if (!pipe) throw Error("bench: cannot start a child process for " + c.method);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) throw Error("bench: the run for method " + c.method + " failed (see its error above)");
  const auto last_line_start = output.find_last_of('\n', output.size() >= 2 ? output.size() - 2 : 0);
  const std::string last = output.substr(last_line_start == std::string::npos ? 0 : last_line_start + 1);
  try {
    return runtime::BenchRecord::from_json(nlohmann::json::parse(last));
  } catch (const nlohmann::json::exception& e) {
    throw Error("bench: unreadable result from the " + c.method + " run: " + last);
  }
}

// `bench memory --settings`: '{...}' for every method, METHOD='{...}' for one (over the common
// ones, key by key); repeatable. Names must be among `methods`.
std::map<std::string, nlohmann::json> settings_per_method(const std::vector<std::string>& given,
                                                          const std::vector<std::string>& methods) {
  nlohmann::json common = nlohmann::json::object();
  std::map<std::string, nlohmann::json> own;
  auto parse = [](const std::string& text, const std::string& what) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) throw UsageError("--settings " + what + ": expected a JSON object, found '" + text + "'");
    return j;
  };
  for (const std::string& s : given) {
    const std::size_t start = s.find_first_not_of(" \t");
    if (start != std::string::npos && s[start] == '{') {
      common.update(parse(s, "(every method)"));
      continue;
    }
    const std::size_t eq = s.find('=');
    const std::string method = s.substr(0, eq);
    if (eq == std::string::npos || std::find(methods.begin(), methods.end(), method) == methods.end())
      throw UsageError("--settings '" + s + "': expected '{...}' for every method or METHOD='{...}' with METHOD one of --methods");
    own[method].update(parse(s.substr(eq + 1), "for " + method));
  }
  std::map<std::string, nlohmann::json> out;
  for (const auto& m : methods) {
    out[m] = common;
    if (own.count(m)) out[m].update(own[m]);
  }
  return out;
}

void add_shape_options(CLI::App* app, runtime::BenchConfig& c, bool settings = true) {
  app->add_option("--model", c.model, "model directory or arch:NAME")->capture_default_str();
  // train's names too, so that one set of flags works everywhere.
  app->add_option("--batch,--batch-size", c.batch, "batch size")->capture_default_str()->check(whole_number(1, kMaxCount));
  app->add_option("--src-len,--seq-len,--max-source-length", c.source_length,
                  "source tokens per example (a decoder-only model: the whole sequence, every token a target)")
      ->capture_default_str()
      ->check(whole_number(1, 1 << 20));
  app->add_option("--tgt-len,--max-target-length", c.target_length, "target tokens per example")->capture_default_str()->check(whole_number(1, 1 << 20));
  app->add_option("--warmup", c.warmup_steps, "untimed steps first")->capture_default_str()->check(whole_number(0, kMaxCount));
  app->add_option("--steps", c.timed_steps, "timed steps")->capture_default_str()->check(whole_number(1, kMaxCount));
  if (settings) app->add_option("--settings", c.settings, "method settings as JSON (the same for every method)");
}

void add_cache_options(CLI::App* app, runtime::BenchConfig& c) {
  app->add_flag("--cached-states", c.cached_states,
                "lst: warm-up steps fill a backbone-state cache, timed steps read it (a later epoch of train "
                "--cache-backbone; backbone dropout off)");
  app->add_flag("--release-blocks", c.release_blocks, "with --cached-states: free the backbone's blocks before the timed steps");
}

void add_visual_options(CLI::App* app, runtime::BenchConfig& c) {
  app->add_option("--visual-tokens", c.visual_tokens,
                  "visual tokens per example (0: text only); the method gets VL-T5's visual embedding, and LST feeds "
                  "them to its side network only")
      ->capture_default_str()
      ->check(whole_number(0, 1 << 20));
  app->add_option("--feature-dim", c.feature_dim, "width of each visual token's features (2048: CLIP RN101)")
      ->capture_default_str()
      ->check(whole_number(1, 1 << 20));
}

}  // namespace

void add_bench_command(CLI::App& root) {
  CLI::App* bench = root.add_subcommand("bench", "memory and speed benchmarks");
  bench->require_subcommand(1);

  auto config = std::make_shared<runtime::BenchConfig>();
  auto runtime_options = std::make_shared<RuntimeOptions>();
  auto methods = std::make_shared<std::string>("full,lora,adapter,bitfit,prompt,lst");
  auto json_path = std::make_shared<std::string>();
  auto memory_settings = std::make_shared<std::vector<std::string>>();
  CLI::App* memory = bench->add_subcommand("memory", "peak memory by category and step time of each method");
  add_shape_options(memory, *config, /*settings=*/false);
  memory->add_option("--methods", *methods, "comma-separated methods")->capture_default_str();
  memory->add_option("--settings", *memory_settings,
                     "method settings: '{...}' for every method, METHOD='{...}' for one (repeatable), "
                     "e.g. --settings lst='{\"reduction\": 4}' --settings lora='{\"r\": 8}'")
      ->allow_extra_args(false);
  add_cache_options(memory, *config);
  add_visual_options(memory, *config);
  memory->add_option("--json", *json_path, "also write the records as JSON to this file");
  add_runtime_options(memory, *runtime_options);
  add_backbone_dtype_option(memory, *runtime_options);
  memory->callback([=] {
    apply_runtime(*runtime_options);
    const int threads = at::get_num_threads();
    config->device = runtime_options->device == "auto" ? (runtime::cuda_available() ? "cuda" : "cpu") : runtime_options->device;
    config->precision = runtime_options->precision;
    config->backbone_dtype = runtime_options->backbone_dtype;
    config->seed = runtime_options->seed;
    config->return_freed_memory = runtime_options->return_freed_memory;
    std::vector<runtime::BenchRecord> records;
    const auto names = split_list(*methods);
    const auto settings = settings_per_method(*memory_settings, names);
    // A method that fails loses its own row only: the others are measured, shown and written.
    std::vector<std::string> failed;
    for (size_t i = 0; i < names.size(); ++i) {
      runtime::BenchConfig one = *config;
      one.method = names[i];
      one.settings = settings.at(names[i]).dump();
      std::cerr << "[" << i + 1 << "/" << names.size() << "] " << one.method << " on " << one.model << " ("
                << one.device << ", " << one.precision << ")\n";
      try {
        records.push_back(run_child(one, threads));
      } catch (const Error& e) {
        std::cerr << "ladder: " << e.what() << "\n";
        failed.push_back(names[i]);
      }
    }
    if (!records.empty()) std::cout << runtime::format_bench_table(records, *config);
    if (!json_path->empty()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : records) out.push_back(r.to_json());
      nlohmann::json doc = {{"model", config->model}, {"batch", config->batch}, {"source_length", config->source_length},
                            {"target_length", config->target_length}, {"device", config->device},
                            {"precision", config->precision},
                            {"backbone_dtype", config->backbone_dtype.empty() ? config->precision : config->backbone_dtype},
                            {"visual_tokens", config->visual_tokens},
                            {"feature_dim", config->visual_tokens > 0 ? config->feature_dim : 0},
                            {"records", out}, {"failed", failed}};
      write_file_atomically(*json_path, doc.dump(2) + "\n");
    }
    if (!failed.empty()) {
      std::string list;
      for (const auto& m : failed) list += (list.empty() ? "" : ", ") + m;
      throw Error("bench: " + std::to_string(failed.size()) + " of " + std::to_string(names.size()) +
                  " methods failed (" + list + "); the rows of the others are above" +
                  (json_path->empty() ? std::string() : " and in " + *json_path));
    }
  });

  // Inference: forward passes of the plain model (no grad), median wall time.
  auto forward_config = std::make_shared<runtime::BenchConfig>();
  auto forward_runtime = std::make_shared<RuntimeOptions>();
  CLI::App* forward = bench->add_subcommand("forward", "time the forward pass of the plain model (eval, no grad)");
  add_shape_options(forward, *forward_config);
  add_runtime_options(forward, *forward_runtime);
  forward->callback([=] {
    const torch::Device device = apply_runtime(*forward_runtime);
    forward_config->device = device.is_cuda() ? "cuda" : "cpu";
    forward_config->precision = forward_runtime->precision;
    forward_config->seed = forward_runtime->seed;
    const double seconds = runtime::time_forward(*forward_config);
    std::cout << "forward " << forward_config->model << " batch " << forward_config->batch << " x " << forward_config->source_length
              << " -> " << forward_config->target_length << " (" << forward_config->device << ", " << forward_config->precision
              << ", " << at::get_num_threads() << " threads): median " << seconds << " s\n";
  });

  // The accuracy table from finished runs (bench/accuracy.sh makes them).
  auto runs_dir = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>();
  auto title = std::make_shared<std::string>("Fine-tuning methods: test score against training memory");
  CLI::App* accuracy = bench->add_subcommand(
      "accuracy", "table and memory-vs-score chart of fine-tuning runs (RUNS/<backbone>/.../run.json, eval_test.json)");
  accuracy->add_option("--runs", *runs_dir, "folder of runs made by bench/accuracy.sh")->required();
  accuracy->add_option("--out", *out_dir, "write accuracy.md, accuracy.json, accuracy.svg and accuracy.html here")->required();
  accuracy->add_option("--title", *title, "title of the table and chart")->capture_default_str();
  accuracy->callback([=] {
    std::vector<std::string> skipped;
    const auto runs = report::collect_runs(*runs_dir, &skipped);
    for (const auto& dir : skipped) std::cerr << "bench accuracy: skipping " << dir << " (unfinished or no eval_test.json)\n";
    if (runs.empty()) throw UsageError(*runs_dir + ": no finished run with a test evaluation");
    const auto cells = report::summarize(runs);
    const std::string markdown = report::markdown_report(cells, *title);
    const std::string svg = report::svg_chart(cells, *title);
    std::filesystem::create_directories(*out_dir);
    const std::filesystem::path out(*out_dir);
    write_file_atomically((out / "accuracy.md").string(), markdown);
    write_file_atomically((out / "accuracy.json").string(), report::json_report(cells, runs).dump(2) + "\n");
    write_file_atomically((out / "accuracy.svg").string(), svg);
    write_file_atomically((out / "accuracy.html").string(), report::html_page(*title, svg, markdown));
    std::cout << markdown;
    std::cerr << "bench accuracy: " << runs.size() << " runs -> " << (out / "accuracy.{md,json,svg,html}").string() << "\n";
  });

  // Peak memory against step time of `bench memory --json` files (torch-free twin: ladder_chart bench).
  auto chart_inputs = std::make_shared<std::vector<std::string>>();
  auto chart_out = std::make_shared<std::string>();
  auto chart_title = std::make_shared<std::string>("Peak memory against step time");
  CLI::App* chart = bench->add_subcommand("chart", "chart of peak memory against step time from bench memory --json files");
  chart->add_option("--json", *chart_inputs, "files written by ladder bench memory --json")->required()->check(CLI::ExistingFile);
  chart->add_option("--out", *chart_out, "the SVG to write")->required();
  chart->add_option("--title", *chart_title, "title of the chart")->capture_default_str();
  chart->callback([=] {
    std::vector<nlohmann::json> docs;
    for (const auto& path : *chart_inputs) docs.push_back(read_json_file(path));
    const auto points = report::bench_points(docs, *chart_inputs);
    write_file_atomically(*chart_out, report::bench_chart(points, *chart_title).str());
    std::cerr << "bench chart: " << points.size() << " records -> " << *chart_out << "\n";
  });

  // Data parallelism's cost per method: gradient bytes per update and their all-reduce time.
  auto reduce_model = std::make_shared<std::string>("arch:t5-base");
  auto reduce_methods = std::make_shared<std::string>("lst,lora,full");
  auto reduce_settings = std::make_shared<std::string>("{}");
  auto reduce_ranks = std::make_shared<int>(2);
  auto reduce_steps = std::make_shared<int>(5);
  auto reduce_json = std::make_shared<std::string>();
  auto reduce_runtime = std::make_shared<RuntimeOptions>();
  CLI::App* allreduce = bench->add_subcommand(
      "allreduce", "bytes each method all-reduces per update in data-parallel training, and the time on local ranks");
  allreduce->add_option("--model", *reduce_model, "model directory or arch:NAME")->capture_default_str();
  allreduce->add_option("--methods", *reduce_methods, "comma-separated methods")->capture_default_str();
  allreduce->add_option("--settings", *reduce_settings, "method settings as JSON (the same for every method)");
  allreduce->add_option("--ranks", *reduce_ranks, "local ranks (threads of this process, Gloo over loopback)")
      ->capture_default_str()
      ->check(whole_number(2, 64));
  allreduce->add_option("--steps", *reduce_steps, "timed reductions (after one untimed)")->capture_default_str()->check(whole_number(1, 1000));
  allreduce->add_option("--json", *reduce_json, "also write the records as JSON to this file");
  add_runtime_options(allreduce, *reduce_runtime);
  allreduce->callback([=] {
    ModelOptions model_options = apply_runtime_for_model(*reduce_runtime);
    model_options.device = torch::kCPU;
    std::vector<dist::AllReduceRecord> records;
    for (const std::string& name : split_list(*reduce_methods)) {
      std::vector<std::vector<int64_t>> shapes;
      {
        MethodOptions options;
        options.name = name;
        options.settings = nlohmann::json::parse(*reduce_settings);
        options.seed = reduce_runtime->seed;
        auto method = make_method(load_model(*reduce_model, model_options).model, options);
        for (const auto& [parameter, tensor] : method->named_trainable()) shapes.push_back(tensor.sizes().vec());
      }
      std::cerr << "bench allreduce: " << name << " on " << *reduce_model << ", " << *reduce_ranks << " ranks\n";
      records.push_back(dist::time_gradient_allreduce(name, shapes, *reduce_ranks, *reduce_steps));
    }
    std::cout << dist::format_allreduce_table(records);
    if (!reduce_json->empty()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : records)
        out.push_back({{"method", r.method}, {"trainable_parameters", r.trainable_parameters},
                       {"bytes_per_update", r.bytes_per_update}, {"buckets", r.buckets}, {"ranks", r.ranks},
                       {"median_seconds", r.median_seconds}});
      write_file_atomically(*reduce_json, nlohmann::json{{"model", *reduce_model}, {"records", out}}.dump(2) + "\n");
    }
  });

  // The child side: one method, one JSON line on stdout.
  auto step_config = std::make_shared<runtime::BenchConfig>();
  auto step_runtime = std::make_shared<RuntimeOptions>();
  CLI::App* step = bench->add_subcommand("step", "(internal) benchmark one method in this process");
  step->group("");
  add_shape_options(step, *step_config);
  step->add_option("--method", step_config->method, "method")->required();
  add_cache_options(step, *step_config);
  add_visual_options(step, *step_config);
  add_runtime_options(step, *step_runtime);
  add_backbone_dtype_option(step, *step_runtime);
  step->callback([=] {
    const int64_t baseline = runtime::current_rss_bytes();
    apply_runtime(*step_runtime);
    step_config->device = step_runtime->device == "auto" ? (runtime::cuda_available() ? "cuda" : "cpu") : step_runtime->device;
    step_config->precision = step_runtime->precision;
    step_config->backbone_dtype = step_runtime->backbone_dtype;
    step_config->seed = step_runtime->seed;
    step_config->return_freed_memory = step_runtime->return_freed_memory;
    runtime::BenchRecord record = runtime::run_training_benchmark(*step_config, baseline);
    std::cout << record.to_json().dump() << std::endl;
  });
}

}  // namespace ladder::cli
