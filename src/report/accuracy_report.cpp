// Grouping fine-tuning runs into the accuracy table and drawing memory against score.
#include "ladder/report/accuracy_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "ladder/error.h"
#include "ladder/io/json_file.h"

namespace ladder::report {
namespace fs = std::filesystem;
namespace {

// The paper's order, then anything else alphabetically.
int rank_in(const std::vector<std::string>& order, const std::string& name) {
  const auto it = std::find(order.begin(), order.end(), name);
  return it == order.end() ? static_cast<int>(order.size()) : static_cast<int>(it - order.begin());
}
const std::vector<std::string> kMethodOrder = {"full", "adapter", "lora", "bitfit", "prompt", "lst"};
const std::vector<std::string> kTaskOrder = {"sst2", "cola", "rte", "mrpc", "stsb", "qqp", "qnli", "mnli"};

bool before(const std::vector<std::string>& order, const std::string& a, const std::string& b) {
  const int ra = rank_in(order, a), rb = rank_in(order, b);
  return ra != rb ? ra < rb : a < b;
}

std::string metric_of(const std::string& task) {
  if (is_perplexity_task(task)) return "perplexity (lower is better)";
  if (task == "cola") return "MCC";
  if (task == "mrpc" || task == "qqp") return "(accuracy + F1) / 2";
  if (task == "stsb") return "(Pearson + Spearman) / 2";
  return "accuracy";
}

// Scores x 100 with one decimal; perplexities as they are, with two.
std::string score_text(const Spread& s, bool perplexity) {
  if (s.count == 0) return "—";
  const double scale = perplexity ? 1 : 100;
  const int digits = perplexity ? 2 : 1;
  // One seed has no spread to give.
  if (s.count == 1) return fixed(scale * s.mean, digits) + " (1 seed)";
  return fixed(scale * s.mean, digits) + " ± " + fixed(scale * s.stddev, digits) + " (" + std::to_string(s.count) + " seeds)";
}

// "(277 test examples)", "(200 to 277 test examples)" where runs were scored on different
// subsets (--max-eval-examples), "" when no run recorded it.
std::string test_examples_text(const std::vector<Cell>& cells, const std::string& task) {
  int64_t low = -1, high = -1;
  bool unknown = false;
  for (const auto& c : cells)
    if (c.task == task)
      for (int64_t n : c.test_examples) {
        if (n < 0) { unknown = true; continue; }
        low = low < 0 ? n : std::min(low, n);
        high = std::max(high, n);
      }
  if (high < 0) return "";
  std::string text = " (" + std::to_string(low) + (low == high ? "" : " to " + std::to_string(high)) + " test examples";
  return text + (unknown ? ", some runs unrecorded)" : ")");
}

// Mean seconds per update of a run from its progress log: the trainer's eta is the mean update
// time of the session so far times the updates left, so the last progress line before the end
// gives it (training only: no loading, Fisher or evaluation). -1 when no such line exists.
double step_seconds_from_log(const fs::path& log) {
  double seconds = -1;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    const auto r = nlohmann::json::parse(line, nullptr, false);
    auto number = [&](const char* key) { return r.contains(key) && r[key].is_number(); };
    if (!r.is_object() || r.value("type", "") != "train" || !number("eta_seconds") || !number("step") ||
        !number("total_steps"))
      continue;
    const double left = r["total_steps"].get<double>() - r["step"].get<double>();
    if (left > 0) seconds = r["eta_seconds"].get<double>() / left;
  }
  return seconds;
}

int64_t peak_from_log(const fs::path& log) {
  int64_t peak = 0;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_object() && record.contains("peak_bytes")) peak = std::max(peak, record["peak_bytes"].get<int64_t>());
  }
  return peak;
}

RunRecord read_run(const fs::path& dir, const fs::path& root, const nlohmann::json& metrics) {
  RunRecord r;
  r.dir = dir.string();
  r.backbone = dir.lexically_relative(root).begin()->string();  // the link name, not its target
  const fs::path run_path = dir / "run.json", test_path = dir / "eval_test.json";
  const nlohmann::json run = read_json_file(run_path.string());
  const nlohmann::json test = read_json_file(test_path.string());
  try {
    r.model = run.at("model").get<std::string>();
    r.task = run.at("task").at("task").get<std::string>();
    // `--task text` is recorded as a custom task of kind text (a language model's own loss).
    if (r.task == "custom" && run.at("task").value("kind", "") == "text") r.task = "text";
    r.method = run.at("method").get<std::string>();
    r.seed = run.at("training").at("seed").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(run_path.string() + ": not a run description (" + e.what() + ")");
  }
  try {
    r.test_metrics = test.at("metrics");
    r.test_score = r.test_metrics.at("score").get<double>();
    if (test.contains("examples")) r.test_examples = test.at("examples").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(test_path.string() + ": no test score (" + e.what() + "; made by ladder eval --split test)");
  }
  r.trainable_parameters = metrics.value("trainable_parameters", int64_t{0});
  r.backbone_parameters = metrics.value("backbone_parameters", int64_t{0});
  r.peak_bytes = metrics.value("peak_bytes", int64_t{0});
  if (r.peak_bytes == 0) r.peak_bytes = peak_from_log(dir / "log.jsonl");
  if (fs::exists(dir / "bench.json"))
    r.train_seconds = read_json_file((dir / "bench.json").string()).value("train_wall_seconds", -1.0);
  r.step_seconds = step_seconds_from_log(dir / "log.jsonl");
  return r;
}

}  // namespace

bool is_perplexity_task(const std::string& task) { return task == "text"; }

std::vector<RunRecord> collect_runs(const std::string& root, std::vector<std::string>* skipped) {
  if (!fs::is_directory(root)) throw UsageError(root + ": not a folder of runs (made by bench/accuracy.sh)");
  std::vector<RunRecord> runs;
  fs::path base = fs::path(root).lexically_normal();
  if (!base.has_filename()) base = base.parent_path();  // "runs/" names the same folder as "runs"
  // Symbolic links are followed so that one table can gather runs kept in several places.
  for (const auto& entry : fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink)) {
    if (!entry.is_regular_file() || entry.path().filename() != "run.json") continue;
    const fs::path dir = entry.path().parent_path();
    const nlohmann::json metrics = fs::exists(dir / "metrics.json") ? read_json_file((dir / "metrics.json").string())
                                                                    : nlohmann::json::object();
    if (!metrics.value("finished", false) || !fs::exists(dir / "eval_test.json")) {
      if (skipped) skipped->push_back(dir.string());
      continue;
    }
    runs.push_back(read_run(dir, base, metrics));
  }
  std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) { return a.dir < b.dir; });
  return runs;
}

Spread spread_of(const std::vector<double>& values) {
  Spread s;
  s.count = static_cast<int>(values.size());
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / s.count;
  if (s.count > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(squares / (s.count - 1));
  }
  return s;
}

std::vector<Cell> summarize(const std::vector<RunRecord>& runs) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const RunRecord*>> groups;
  for (const auto& r : runs) groups[{r.backbone, r.task, r.method}].push_back(&r);
  std::vector<Cell> cells;
  for (const auto& [key, members] : groups) {
    Cell c;
    std::tie(c.backbone, c.task, c.method) = key;
    std::vector<double> scores;
    double peak = 0, seconds = 0, step = 0;
    bool timed = true, stepped = true;
    for (const RunRecord* r : members) {
      // A perplexity task's cell holds test perplexities (ladder's score there is -loss).
      scores.push_back(is_perplexity_task(c.task) ? r->test_metrics.value("perplexity", std::exp(-r->test_score))
                                                  : r->test_score);
      c.seeds.push_back(r->seed);
      c.test_examples.push_back(r->test_examples);
      peak += static_cast<double>(r->peak_bytes) / (1024.0 * 1024.0);
      timed = timed && r->train_seconds >= 0;
      seconds += r->train_seconds;
      stepped = stepped && r->step_seconds >= 0;
      step += r->step_seconds;
      if (r->backbone_parameters > 0)
        c.trainable_percent = 100.0 * static_cast<double>(r->trainable_parameters) / static_cast<double>(r->backbone_parameters);
    }
    c.score = spread_of(scores);
    c.peak_mib = peak / static_cast<double>(members.size());
    c.train_seconds = timed ? seconds / static_cast<double>(members.size()) : -1;
    c.step_seconds = stepped ? step / static_cast<double>(members.size()) : -1;
    std::sort(c.seeds.begin(), c.seeds.end());
    cells.push_back(std::move(c));
  }
  std::sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) {
    if (a.task != b.task) return before(kTaskOrder, a.task, b.task);
    if (a.method != b.method) return before(kMethodOrder, a.method, b.method);
    return a.backbone < b.backbone;
  });
  return cells;
}

namespace {

struct Axes {
  std::vector<std::string> backbones, tasks, methods;
};

Axes axes_of(const std::vector<Cell>& cells) {
  Axes a;
  auto add = [](std::vector<std::string>& list, const std::string& name) {
    if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
  };
  for (const auto& c : cells) {
    add(a.backbones, c.backbone);
    add(a.tasks, c.task);
    add(a.methods, c.method);
  }
  std::sort(a.backbones.begin(), a.backbones.end());
  return a;
}

const Cell* find_cell(const std::vector<Cell>& cells, const std::string& backbone, const std::string& task,
                      const std::string& method) {
  for (const auto& c : cells)
    if (c.backbone == backbone && c.task == task && c.method == method) return &c;
  return nullptr;
}

// Mean over tasks of one method on one backbone; only when every task has runs. Perplexity tasks
// are left out: averaging a perplexity with accuracies would mean nothing.
struct Average {
  bool complete = false;
  double score = 0, peak_mib = 0, trainable_percent = 0;
};

Average average_over_tasks(const std::vector<Cell>& cells, const Axes& axes, const std::string& backbone,
                           const std::string& method) {
  Average a;
  int n = 0;
  for (const auto& task : axes.tasks) {
    if (is_perplexity_task(task)) continue;
    const Cell* c = find_cell(cells, backbone, task, method);
    if (!c) return a;
    a.score += c->score.mean;
    a.peak_mib += c->peak_mib;
    a.trainable_percent = c->trainable_percent;
    ++n;
  }
  a.complete = n > 0;
  if (n > 0) {
    a.score /= n;
    a.peak_mib /= n;
  }
  return a;
}

// The tasks that the average over tasks (and the chart) covers.
std::vector<std::string> averaged_tasks(const Axes& axes) {
  std::vector<std::string> out;
  for (const auto& t : axes.tasks)
    if (!is_perplexity_task(t)) out.push_back(t);
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string markdown_report(const std::vector<Cell>& cells, const std::string& title) {
  const Axes axes = axes_of(cells);
  // Each other backbone is compared with the one named "random" (what pretraining adds).
  const bool has_random = std::count(axes.backbones.begin(), axes.backbones.end(), "random") > 0;
  std::vector<std::string> compared;
  if (has_random)
    for (const auto& b : axes.backbones)
      if (b != "random") compared.push_back(b);
  const size_t score_columns = axes.backbones.size() + compared.size();
  // Differences in the cells' unit: score points x 100, or perplexity (negative: a is better).
  auto difference = [](const Cell* a, const Cell* b) {
    if (!a || !b) return std::string("—");
    return is_perplexity_task(a->task) ? fixed(a->score.mean - b->score.mean, 2) : fixed(100 * (a->score.mean - b->score.mean), 1);
  };
  // Header and rule of a table: `lead` columns, the score columns, then `tail`.
  auto table_head = [&](std::ostringstream& o, const std::string& lead, const std::string& lead_rule,
                        const std::string& tail, const std::string& tail_rule) {
    o << lead;
    for (const auto& b : axes.backbones) o << " " << b << " |";
    for (const auto& b : compared) o << " " << b << " − random |";
    o << tail << "\n" << lead_rule;
    for (size_t i = 0; i < score_columns; ++i) o << "---:|";
    o << tail_rule << "\n";
  };

  std::ostringstream out;
  out << "# " << title << "\n\n"
      << "Test-split scores x 100 (perplexity tasks: test perplexity, lower is better, so there a negative "
         "difference favours the first), mean ± sample standard deviation over seeds (number of seeds; one seed has no ±), "
         "on the number of test examples each heading gives. Peak, time and time per update (training only) are the mean over "
         "seeds on the "
      << (axes.backbones.empty() ? std::string("first") : axes.backbones.front()) << " backbone.\n";
  for (const auto& task : axes.tasks) {
    out << "\n## " << task << " — " << metric_of(task) << test_examples_text(cells, task) << "\n\n";
    table_head(out, "| method | trainable % |", "|---|---:|", " training peak (MiB) | train time (s) | s / update |",
               "---:|---:|---:|");
    for (const auto& method : axes.methods) {
      const Cell* first = nullptr;
      for (const auto& b : axes.backbones)
        if (!first) first = find_cell(cells, b, task, method);
      if (!first) continue;
      out << "| " << method << " | " << fixed(first->trainable_percent, 3) << " |";
      for (const auto& b : axes.backbones) {
        const Cell* c = find_cell(cells, b, task, method);
        out << " " << (c ? score_text(c->score, is_perplexity_task(task)) : "—") << " |";
      }
      for (const auto& b : compared)
        out << " " << difference(find_cell(cells, b, task, method), find_cell(cells, "random", task, method)) << " |";
      out << " " << fixed(first->peak_mib, 0) << " | "
          << (first->train_seconds >= 0 ? fixed(first->train_seconds, 0) : "—") << " | "
          << (first->step_seconds >= 0 ? fixed(first->step_seconds, 3) : "—") << " |\n";
    }
  }
  // LST against LoRA and full fine-tuning: per task and backbone, score and peak side by side.
  const bool has_lst = std::count(axes.methods.begin(), axes.methods.end(), "lst") > 0;
  std::vector<std::string> rivals;
  for (const char* m : {"lora", "full"})
    if (std::count(axes.methods.begin(), axes.methods.end(), m)) rivals.push_back(m);
  if (has_lst && !rivals.empty()) {
    out << "\n## LST against " << (rivals.size() == 2 ? "LoRA and full fine-tuning" : rivals[0] == "lora" ? "LoRA" : "full fine-tuning")
        << "\n\nScore differences x 100 (perplexity tasks: in perplexity, negative = LST better); peak ratios "
           "LST / other (below 1: LST needs less memory).\n\n| task | backbone | lst |";
    for (const auto& m : rivals) out << " " << m << " |";
    for (const auto& m : rivals) out << " lst − " << m << " |";
    for (const auto& m : rivals) out << " peak lst / " << m << " |";
    out << "\n|---|---|---:|";
    for (size_t i = 0; i < 3 * rivals.size(); ++i) out << "---:|";
    out << "\n";
    for (const auto& task : axes.tasks)
      for (const auto& b : axes.backbones) {
        const Cell* lst = find_cell(cells, b, task, "lst");
        if (!lst) continue;
        const bool ppl = is_perplexity_task(task);
        out << "| " << task << " | " << b << " | " << score_text(lst->score, ppl) << " |";
        for (const auto& m : rivals) {
          const Cell* c = find_cell(cells, b, task, m);
          out << " " << (c ? score_text(c->score, ppl) : "—") << " |";
        }
        for (const auto& m : rivals) out << " " << difference(lst, find_cell(cells, b, task, m)) << " |";
        for (const auto& m : rivals) {
          const Cell* c = find_cell(cells, b, task, m);
          out << " " << (c && c->peak_mib > 0 ? fixed(lst->peak_mib / c->peak_mib, 2) : "—") << " |";
        }
        out << "\n";
      }
  }
  const std::vector<std::string> averaged = averaged_tasks(axes);
  if (averaged.empty()) return out.str();  // perplexity tasks only: nothing to average
  out << "\n## Average over tasks\n\n";
  if (averaged.size() < axes.tasks.size())
    out << "Over " << joined(averaged) << " only: perplexity tasks are not averaged with scores.\n\n";
  table_head(out, "| method |", "|---|", " training peak (MiB) |", "---:|");
  for (const auto& method : axes.methods) {
    out << "| " << method << " |";
    for (const auto& b : axes.backbones) {
      const Average a = average_over_tasks(cells, axes, b, method);
      out << " " << (a.complete ? fixed(100 * a.score, 1) : "—") << " |";
    }
    const Average random = average_over_tasks(cells, axes, "random", method);
    for (const auto& b : compared) {
      const Average a = average_over_tasks(cells, axes, b, method);
      out << " " << (a.complete && random.complete ? fixed(100 * (a.score - random.score), 1) : "—") << " |";
    }
    const Average first = average_over_tasks(cells, axes, axes.backbones.front(), method);
    out << " " << (first.complete ? fixed(first.peak_mib, 0) : "—") << " |\n";
  }
  return out.str();
}

nlohmann::json json_report(const std::vector<Cell>& cells, const std::vector<RunRecord>& runs) {
  nlohmann::json out = {{"cells", nlohmann::json::array()}, {"runs", nlohmann::json::array()}};
  for (const auto& c : cells)
    out["cells"].push_back({{"backbone", c.backbone}, {"task", c.task}, {"method", c.method},
                            {"score_mean", c.score.mean}, {"score_stddev", c.score.stddev},
                            {"score_min", c.score.min}, {"score_max", c.score.max}, {"seeds", c.seeds},
                            {"test_examples", c.test_examples}, {"trainable_percent", c.trainable_percent}, {"peak_mib", c.peak_mib},
                            {"train_seconds", c.train_seconds}, {"step_seconds", c.step_seconds},
                            {"unit", is_perplexity_task(c.task) ? "perplexity" : "score"}});
  for (const auto& r : runs)
    out["runs"].push_back({{"dir", r.dir}, {"backbone", r.backbone}, {"model", r.model}, {"task", r.task},
                           {"method", r.method}, {"seed", r.seed}, {"test_metrics", r.test_metrics},
                           {"trainable_parameters", r.trainable_parameters},
                           {"backbone_parameters", r.backbone_parameters}, {"peak_bytes", r.peak_bytes},
                           {"train_seconds", r.train_seconds}, {"step_seconds", r.step_seconds}});
  return out;
}

SvgCanvas accuracy_chart(const std::vector<Cell>& cells, const std::string& title) {
  const Axes axes = axes_of(cells);
  struct Point {
    std::string method, backbone;
    double x, y;
  };
  std::vector<Point> points;
  for (const auto& b : axes.backbones)
    for (const auto& m : axes.methods) {
      const Average a = average_over_tasks(cells, axes, b, m);
      if (a.complete) points.push_back({m, b, a.peak_mib, 100 * a.score});
    }
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!points.empty()) {
    x0 = x1 = points[0].x;
    y0 = y1 = points[0].y;
    for (const auto& p : points) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
      y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
  }
  // A little room so that no point sits on an axis; then round ticks that cover it.
  const double xpad = std::max(1.0, 0.03 * (x1 - x0)), ypad = std::max(0.5, 0.03 * (y1 - y0));
  const Ticks xt = nice_ticks(std::max(0.0, x0 - xpad), x1 + xpad), yt = nice_ticks(y0 - ypad, y1 + ypad);

  const double font = 12, radius = 6, plot_w = 560, plot_h = 340, top = 50, left = 72;
  const double bottom = top + plot_h, right = left + plot_w;
  double legend_w = 0;
  for (const auto& b : axes.backbones) legend_w = std::max(legend_w, 20 + text_width(b + " backbone", font));
  const double legend_x = right + 20;
  const double width = std::max(legend_x + legend_w + 12, text_width(title, 15) + 40), height = bottom + 60;
  auto px = [&](double x) { return left + (x - xt.lo()) / (xt.hi() - xt.lo()) * plot_w; };
  auto py = [&](double y) { return bottom - (y - yt.lo()) / (yt.hi() - yt.lo()) * plot_h; };
  // The first backbone solid, "random" hollow, any other half-filled.
  auto marker = [&](const std::string& backbone, const std::string& color) {
    std::string fill = backbone == "random" ? "fill=\"white\""
                       : backbone == axes.backbones.front() ? "fill=\"" + color + "\""
                                                            : "fill=\"" + color + "\" fill-opacity=\"0.35\"";
    return "stroke=\"" + color + "\" stroke-width=\"2\" " + fill;
  };

  SvgCanvas svg(width, height);
  svg.text(width / 2, 24, title, "middle", 15);
  // Perplexity tasks are not on the score axis (average_over_tasks leaves them out); say which tasks are.
  const std::vector<std::string> averaged = averaged_tasks(axes);
  const std::string y_label = averaged.size() == axes.tasks.size() ? "test score x 100, mean over tasks"
                              : averaged.size() == 1 ? "test " + metric_of(averaged[0]) + " x 100, " + averaged[0]
                                                     : "test score x 100, mean over " + joined(averaged);
  svg.axes({left, top, right, bottom}, xt, yt, "training peak memory (MiB, mean over tasks)", y_label, font);

  std::vector<LabelRequest> requests;
  std::vector<Box> markers;
  for (const auto& p : points) {
    requests.push_back({px(p.x), py(p.y), radius, p.method});
    markers.push_back({px(p.x) - radius - 1, py(p.y) - radius - 1, px(p.x) + radius + 1, py(p.y) + radius + 1});
  }
  const auto placed = place_labels(requests, markers, {left + 2, top + 2, right - 2, bottom - 2}, font);
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    svg.circle(requests[i].x, requests[i].y, radius, marker(p.backbone, method_color(p.method)),
               p.method + " (" + p.backbone + "): " + fixed(p.y, 1) + " at " + fixed(p.x, 0) + " MiB");
  }
  for (size_t i = 0; i < points.size(); ++i) svg.label(placed[i], requests[i], font, method_color(points[i].method));
  double legend_y = top + 10;
  for (const auto& b : axes.backbones) {
    svg.circle(legend_x + 6, legend_y, radius, marker(b, "#444"));
    svg.text(legend_x + 18, legend_y + 4, b + " backbone", "start", font);
    legend_y += 20;
  }
  return svg;
}

std::string svg_chart(const std::vector<Cell>& cells, const std::string& title) {
  return accuracy_chart(cells, title).str();
}

std::vector<Cell> cells_from_json(const nlohmann::json& report) {
  std::vector<Cell> cells;
  try {
    for (const auto& j : report.at("cells")) {
      Cell c;
      c.backbone = j.at("backbone").get<std::string>();
      c.task = j.at("task").get<std::string>();
      c.method = j.at("method").get<std::string>();
      c.seeds = j.at("seeds").get<std::vector<uint64_t>>();
      // Reports written before the counts were kept: unknown.
      c.test_examples = j.contains("test_examples") ? j.at("test_examples").get<std::vector<int64_t>>()
                                                    : std::vector<int64_t>(c.seeds.size(), -1);
      c.score.count = static_cast<int>(c.seeds.size());
      c.score.mean = j.at("score_mean").get<double>();
      c.score.stddev = j.at("score_stddev").get<double>();
      c.score.min = j.at("score_min").get<double>();
      c.score.max = j.at("score_max").get<double>();
      c.trainable_percent = j.at("trainable_percent").get<double>();
      c.peak_mib = j.at("peak_mib").get<double>();
      c.train_seconds = j.at("train_seconds").get<double>();
      c.step_seconds = j.value("step_seconds", -1.0);  // absent in reports made before it was recorded
      cells.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(std::string("not an accuracy.json of ladder bench accuracy (") + e.what() + ")");
  }
  return cells;
}

std::string html_page(const std::string& title, const std::string& svg, const std::string& markdown) {
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape_xml(title) +
         "</title></head>\n<body style=\"font-family: sans-serif; max-width: 60em; margin: auto\">\n" + svg +
         "<pre style=\"white-space: pre-wrap\">" + escape_xml(markdown) + "</pre>\n</body></html>\n";
}

}  // namespace ladder::report
