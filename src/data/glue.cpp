#include "ladder/data/glue.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ladder/data/shuffle.h"
#include "ladder/data/table.h"
#include "ladder/error.h"

namespace ladder::data {
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kBinary = {"0", "1"};

void check_stsb_step(double step) {
  if (step != 0.1 && step != 0.2) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%g", step);
    throw UsageError(expected_found("STS-B target step", "0.1 (the LST authors' code) or 0.2 (the T5 paper)",
                                    buffer));
  }
}

// How a task's rows become text: source keys, header column names, label words.
struct Format {
  std::string key_a;      // "sentence1:" (as it appears in the source)
  std::string key_b;      // "sentence2:", "" for single-sentence tasks
  std::string column_a;   // header name of text A
  std::string column_b;   // header name of text B, "" for single-sentence tasks
  std::string column_label;
  std::vector<std::pair<std::string, std::string>> words;  // label word -> target string
};

const Format& format_of(const std::string& task) {
  static const std::vector<std::pair<std::string, Format>> formats = {
      {"cola", {"sentence:", "", "", "", "", {}}},  // headerless, read by position
      {"sst2", {"sentence:", "", "sentence", "", "label", {}}},
      {"mrpc", {"sentence1:", "sentence2:", "#1 String", "#2 String", "Quality", {}}},
      {"qqp", {"question1:", "question2:", "question1", "question2", "is_duplicate", {}}},
      {"stsb", {"sentence1:", "sentence2:", "sentence1", "sentence2", "score", {}}},
      {"mnli", {"premise:", "hypothesis", "sentence1", "sentence2", "gold_label",
                {{"entailment", "0"}, {"neutral", "1"}, {"contradiction", "2"}}}},
      {"qnli", {"question:", "sentence:", "question", "sentence", "label",
                {{"entailment", "0"}, {"not_entailment", "1"}}}},
      {"rte", {"sentence1:", "sentence2:", "sentence1", "sentence2", "label",
               {{"entailment", "0"}, {"not_entailment", "1"}}}},
      {"wnli", {"sentence1:", "sentence2:", "sentence1", "sentence2", "label", {}}},
  };
  for (const auto& entry : formats) {
    if (entry.first == task) return entry.second;
  }
  throw Error("internal: no text-to-text format for GLUE task " + task);
}

}  // namespace

std::string glue_data_label(const std::string& task_name, const std::string& target) {
  const GlueTask& task = glue_task(task_name);
  if (task.labels.empty()) return target;
  if (std::find(task.labels.begin(), task.labels.end(), target) == task.labels.end()) return "";
  for (const auto& [word, label] : format_of(task.name).words)
    if (label == target) return word;
  return target;
}

namespace {

// Layout of one file, decided from the task and (for MRPC/STS-B) its first line.
enum class Layout { kHeader, kColaNoHeader, kStsOriginal };

struct Reader {
  const GlueTask& task;
  const Format& format;
  const LoadOptions& options;
  std::size_t skipped = 0;

  std::string context() const { return "GLUE task " + task.name; }

  // Strict decimal parse of a whole field; false on anything else (incl. nan/inf).
  static bool parse_score(const std::string& text, double& value) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    value = std::strtod(text.c_str(), &end);
    return errno == 0 && end == text.c_str() + text.size() && std::isfinite(value);
  }

  // Label text -> target, or "" with `problem` set.
  std::string target_of(const std::string& label, std::string& problem) const {
    if (task.name == "stsb") {
      double score = 0.0;
      if (!parse_score(label, score) || score < 0.0 || score > 5.0) {
        problem = expected_found("similarity score", "a number in [0, 5]", "'" + label + "'");
        return "";
      }
      return stsb_target(score, options.stsb_step);
    }
    for (const auto& word : format.words) {
      if (word.first == label) return word.second;
    }
    if (std::find(task.labels.begin(), task.labels.end(), label) != task.labels.end()) return label;
    std::string valid;
    for (const auto& word : format.words) valid += word.first + "/";
    for (const auto& l : task.labels) valid += l + "/";
    valid.pop_back();
    problem = expected_found("label", valid, "'" + label + "'");
    return "";
  }

  void reject(const std::string& path, std::size_t line, const std::string& problem) {
    if (!options.skip_malformed) throw FormatError(at_line(path, line, problem + " (" + context() + ")"));
    ++skipped;
  }

  std::vector<Example> read(const std::string& path, const std::string& text, Layout layout) {
    const std::vector<TextRow> rows = read_tsv_rows(text);
    std::size_t first = 0, columns = 0, min_columns = 0;
    int col_a = -1, col_b = -1, col_label = -1;
    if (layout == Layout::kColaNoHeader) {
      columns = 4, col_label = 1, col_a = 3;
    } else if (layout == Layout::kStsOriginal) {
      min_columns = 7, col_label = 4, col_a = 5, col_b = 6;
    } else {
      if (rows.empty()) throw FormatError(context() + ": " + path + " is empty (expected a header line)");
      const std::vector<std::string>& header = rows[0].fields;
      first = 1;
      columns = header.size();
      col_a = find_column(header, format.column_a);
      col_b = format.column_b.empty() ? -1 : find_column(header, format.column_b);
      col_label = find_column(header, format.column_label);
      for (const auto& [name, index] : {std::pair{format.column_a, col_a}, {format.column_b, col_b},
                                        {format.column_label, col_label}}) {
        if (!name.empty() && index < 0) {
          std::string found;
          for (const auto& h : header) found += (found.empty() ? "" : ", ") + h;
          throw FormatError(at_line(path, rows[0].line,
              expected_found("header (" + context() + ")", "a column named '" + name + "'",
                             "[" + found + "]", "is this the official GLUE file?")));
        }
      }
    }
    std::vector<Example> examples;
    examples.reserve(rows.size());
    for (std::size_t r = first; r < rows.size(); ++r) {
      const TextRow& row = rows[r];
      const std::size_t n = row.fields.size();
      if (min_columns > 0 ? n < min_columns : n != columns) {
        reject(path, row.line, expected_found("tab-separated columns",
            min_columns > 0 ? "at least " + std::to_string(min_columns) : std::to_string(columns),
            std::to_string(n)));
        continue;
      }
      std::string problem;
      std::string target = target_of(row.fields[col_label], problem);
      if (!problem.empty()) {
        reject(path, row.line, problem);
        continue;
      }
      const std::string b = col_b >= 0 ? row.fields[col_b] : "";
      Example example{glue_source(task.name, row.fields[col_a], b), std::move(target)};
      example.index = examples.size();  // position among the file's usable rows
      examples.push_back(std::move(example));
    }
    if (examples.empty()) throw FormatError(context() + ": " + path + " has no usable data rows");
    return examples;
  }
};

std::string first_field(const std::string& text) {
  const std::vector<TextRow> lines = split_lines(text);
  return lines.empty() ? "" : split_tabs(lines[0].fields[0])[0];
}

// A file of the task's folder, read whole; a missing one is reported with the task.
struct TaskFiles {
  const GlueTask& task;
  fs::path dir;
  std::string data_dir;

  std::string path(const std::string& name) const { return (dir / name).string(); }
  bool has(const std::string& name) const { return fs::is_regular_file(dir / name); }

  // The first of `names` that exists; none -> FormatError naming every path tried.
  std::string pick(const std::vector<std::string>& names) const {
    std::string tried;
    for (const auto& name : names) {
      if (has(name)) return path(name);
      tried += (tried.empty() ? "" : " or ") + path(name);
    }
    throw FormatError("GLUE task " + task.name + ": missing file " + tried +
                      " (expected the official GLUE files under " + data_dir + "/" + task.directory +
                      " or " + data_dir + ")");
  }
};

struct LoadedFile {
  std::string path;
  std::vector<Example> examples;
};

LoadedFile load_file(Reader& reader, const TaskFiles& files, const std::vector<std::string>& names) {
  const std::string path = files.pick(names);
  const std::string text = read_text_file(path, reader.context());
  Layout layout = Layout::kHeader;
  const std::string& task = reader.task.name;
  if (task == "cola") {
    layout = Layout::kColaNoHeader;
  } else if (task == "stsb") {
    // GLUE's STS-B has a header naming `score`; the original files start with data.
    const std::vector<TextRow> lines = split_lines(text);
    const bool header = !lines.empty() && find_column(split_tabs(lines[0].fields[0]), "score") >= 0;
    layout = header ? Layout::kHeader : Layout::kStsOriginal;
  } else if (task == "mrpc") {
    const std::string head = first_field(text);
    if (head == "index") {
      throw FormatError(at_line(path, 1, "GLUE task mrpc: this is GLUE's unlabeled test set "
                                         "(header 'index ...'); provide dev.tsv or the labeled "
                                         "MSR test file msr_paraphrase_test.txt"));
    }
  }
  return {path, reader.read(path, text, layout)};
}

// MRPC's dev source: GLUE dev.tsv, else the labeled MSR test set (see glue.h).
std::vector<std::string> mrpc_dev_names(const TaskFiles& files) {
  if (files.has("dev.tsv")) return {"dev.tsv"};
  if (files.has("test.tsv")) {
    const std::string head = first_field(read_text_file(files.path("test.tsv"), "GLUE task mrpc"));
    if (head == "Quality" || !files.has("msr_paraphrase_test.txt")) return {"test.tsv"};
  }
  return {"msr_paraphrase_test.txt"};
}

// all[indices[begin]], ..., all[indices[end - 1]], as the authors' dataset.select(indices[begin:end]).
std::vector<Example> select(const std::vector<Example>& all, const std::vector<std::size_t>& indices,
                            std::size_t begin, std::size_t end) {
  std::vector<Example> out;
  out.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) out.push_back(all[indices[i]]);
  return out;
}

}  // namespace

const std::vector<GlueTask>& glue_tasks() {
  static const std::vector<GlueTask> tasks = {
      {"cola", "CoLA", kBinary, {"mcc"}, false},
      {"sst2", "SST-2", kBinary, {"accuracy"}, true},
      {"mrpc", "MRPC", kBinary, {"accuracy", "f1"}, false},
      {"qqp", "QQP", kBinary, {"accuracy", "f1"}, true},
      {"stsb", "STS-B", {}, {"pearson", "spearman"}, false},
      {"mnli", "MNLI", {"0", "1", "2"}, {"accuracy"}, true},
      {"qnli", "QNLI", kBinary, {"accuracy"}, true},
      {"rte", "RTE", kBinary, {"accuracy"}, false},
      {"wnli", "WNLI", kBinary, {"accuracy"}, false},
  };
  return tasks;
}

bool is_glue_task(const std::string& name) {
  for (const auto& task : glue_tasks()) {
    if (task.name == name) return true;
  }
  return false;
}

const GlueTask& glue_task(const std::string& name) {
  std::string known;
  for (const auto& task : glue_tasks()) {
    if (task.name == name) return task;
    known += (known.empty() ? "" : ", ") + task.name;
  }
  throw UsageError(expected_found("GLUE task", "one of " + known, "'" + name + "'"));
}

std::string glue_source(const std::string& task, const std::string& a, const std::string& b) {
  const Format& format = format_of(glue_task(task).name);
  std::string source = task + " " + format.key_a + " " + a;
  if (!format.key_b.empty()) source += " " + format.key_b + " " + b;
  return source;
}

std::string stsb_target(double score, double step) {
  check_stsb_step(step);
  double rounded = 0.0;
  if (step == 0.1) {
    // The authors' round_stsb_target(label) = np.round((label * 5) / 5, decimals=1) on the
    // float32 label of HF datasets (a Python float holding that float32 value); numpy rounds
    // to 1 decimal as rint(x * 10) / 10, rint halving to even (std::nearbyint in the default
    // FE_TONEAREST mode).
    const double label = static_cast<double>(static_cast<float>(score));
    const double x = (label * 5.0) / 5.0;
    rounded = std::nearbyint(x * 10.0) / 10.0;
  } else {
    const double units = score * 5.0;
    const double floor_units = std::floor(units);
    const double fraction = units - floor_units;
    double unit = floor_units;
    if (fraction > 0.5 + 1e-9) {
      unit = floor_units + 1.0;
    } else if (fraction >= 0.5 - 1e-9) {  // a tie: to the even unit
      unit = std::fmod(floor_units, 2.0) == 0.0 ? floor_units : floor_units + 1.0;
    }
    rounded = unit / 5.0;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", rounded + 0.0);  // + 0.0: no "-0.0"
  return buffer;
}

Dataset load_glue(const std::string& task_name, const std::string& data_dir, const std::string& split,
                  uint64_t seed, const LoadOptions& options) {
  const GlueTask& task = glue_task(task_name);
  check_stsb_step(options.stsb_step);
  if (split != "train" && split != "validation" && split != "test") {
    throw UsageError(expected_found("split for GLUE task " + task.name,
                                    "train, validation or test", "'" + split + "'"));
  }
  const fs::path sub = fs::path(data_dir) / task.directory;
  const TaskFiles files{task, fs::is_directory(sub) ? sub : fs::path(data_dir), data_dir};
  Reader reader{task, format_of(task.name), options};
  Dataset dataset;
  dataset.task = task.name;
  dataset.labels = task.labels;

  if (task.name == "mnli") {
    const char* name = split == "train" ? "train.tsv" : split == "validation" ? "dev_mismatched.tsv"
                                                                            : "dev_matched.tsv";
    dataset.examples = load_file(reader, files, {name}).examples;
  } else if (!task.large) {
    const std::vector<std::string> train_names =
        task.name == "mrpc" ? std::vector<std::string>{"train.tsv", "msr_paraphrase_train.txt"}
        : task.name == "stsb" ? std::vector<std::string>{"train.tsv", "sts-train.tsv", "sts-train.csv"}
                              : std::vector<std::string>{"train.tsv"};
    const std::vector<std::string> dev_names =
        task.name == "mrpc" ? mrpc_dev_names(files)
        : task.name == "stsb" ? std::vector<std::string>{"dev.tsv", "sts-dev.tsv", "sts-dev.csv"}
                              : std::vector<std::string>{"dev.tsv"};
    if (split == "train") {
      dataset.examples = load_file(reader, files, train_names).examples;
    } else {
      const std::vector<Example> dev = load_file(reader, files, dev_names).examples;
      const std::vector<std::size_t> order = torch_randperm(dev.size(), seed);
      const std::size_t half = dev.size() / 2;
      dataset.examples = split == "validation" ? select(dev, order, 0, half)
                                               : select(dev, order, half, dev.size());
    }
  } else if (split == "test") {
    dataset.examples = load_file(reader, files, {"dev.tsv"}).examples;
  } else {
    const LoadedFile train = load_file(reader, files, {"train.tsv"});
    const std::size_t n = train.examples.size();
    const std::size_t carve = options.large_task_validation_size;
    if (carve == 0 || carve >= n) {
      throw Error("GLUE task " + task.name + ": " + train.path + " has " + std::to_string(n) +
                  " usable rows, too few to carve a validation split of " + std::to_string(carve));
    }
    const std::vector<std::size_t> order = torch_randperm(n, seed);
    dataset.examples = split == "validation" ? select(train.examples, order, 0, carve)
                                             : select(train.examples, order, carve, n);
  }
  dataset.skipped_rows = reader.skipped;
  return dataset;
}

}  // namespace ladder::data
