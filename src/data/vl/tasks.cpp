#include "ladder/data/vl/tasks.h"

#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "ladder/error.h"

namespace ladder::data {

namespace {

// ordered_json: answers keep the file's order (the authors' Python dicts do), which decides
// the target among equal scores and the order sample_answer walks.
using Json = nlohmann::ordered_json;

Json read_ordered_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path + ": cannot open");
  try {
    return Json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": invalid JSON (" + std::string(e.what()) + ")");
  }
}

// A row problem; thrown inside the row parsers and turned into "FILE: row N (id ID): ..." or a
// skipped row by the loop that owns the file.
struct RowProblem {
  std::string message;
};

[[noreturn]] void problem(const std::string& message) { throw RowProblem{message}; }

const Json& field(const Json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) problem(std::string("missing field \"") + key + "\"");
  return *it;
}

std::string string_field(const Json& row, const char* key) {
  const Json& value = field(row, key);
  if (!value.is_string()) problem(std::string("field \"") + key + "\" must be a string, found " + value.dump());
  return value.get<std::string>();
}

// VQA question ids are numbers in the LXMERT files, strings in GQA's: both become text.
std::string id_field(const Json& row, const char* key) {
  const Json& value = field(row, key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.dump();
  problem(std::string("field \"") + key + "\" must be a string or a whole number, found " + value.dump());
}

// The id shown in an error message: whatever the row has, without failing on a bad row.
std::string id_for_message(const Json& row, const std::string& task) {
  if (!row.is_object()) return "?";
  const char* key = task == "nlvr" ? "uid" : task == "caption" ? "filename" : "question_id";
  auto it = row.find(key);
  if (it == row.end()) return "?";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string strip(const std::string& text) {
  const char* space = " \t\n\r\f\v";
  const auto begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(space) - begin + 1);
}

// VQA and GQA rows: question, image, and the soft label {answer: score}.
VlExample question_row(const Json& row, const std::string& task, bool labelled_split) {
  VlExample example;
  example.task = task;
  example.id = id_field(row, "question_id");
  example.image_ids = {string_field(row, "img_id")};
  // The authors' VQA reader takes "sent", else "question".
  const char* sentence_key = row.contains("sent") || !row.contains("question") ? "sent" : "question";
  example.source = vl_task_prompt(task) + string_field(row, sentence_key);
  auto label = row.find("label");
  if (label == row.end() || label->is_null()) {
    if (labelled_split) problem("missing field \"label\"");
    return example;
  }
  if (!label->is_object()) problem("\"label\" must be an object {answer: score}, found " + label->dump());
  if (label->empty() && labelled_split) problem("empty answer set (\"label\": {})");
  double best = 0;
  for (auto it = label->begin(); it != label->end(); ++it) {
    if (!it.value().is_number())
      problem("score of answer \"" + it.key() + "\" must be a number, found " + it.value().dump());
    const double score = it.value().get<double>();
    // Strictly greater: among equal scores the first in file order stays the target.
    if (example.answers.empty() || score > best) {
      best = score;
      example.target = it.key();
    }
    example.answers.emplace_back(it.key(), score);
  }
  return example;
}

VlExample nlvr_row(const Json& row, bool labelled_split) {
  VlExample example;
  example.task = "nlvr";
  example.id = id_field(row, "uid");
  example.image_ids = {string_field(row, "img0"), string_field(row, "img1")};
  example.source = vl_task_prompt("nlvr") + string_field(row, "sent");
  auto label = row.find("label");
  if (label == row.end() || label->is_null()) {
    if (labelled_split) problem("missing field \"label\"");
    return example;
  }
  if (*label == 1 && label->is_number_integer()) {
    example.target = "true";
  } else if (*label == 0 && label->is_number_integer()) {
    example.target = "false";
  } else {
    problem("\"label\" must be 0 or 1, found " + label->dump());
  }
  return example;
}

// One Karpathy image: its id and stripped sentences.
std::pair<std::string, std::vector<std::string>> karpathy_image(const Json& image) {
  const std::string filename = string_field(image, "filename");
  const Json& sentences = field(image, "sentences");
  if (!sentences.is_array()) problem("field \"sentences\" must be an array, found " + sentences.dump());
  if (sentences.empty()) problem("image without sentences");
  std::vector<std::string> references;
  for (const Json& sentence : sentences) {
    if (!sentence.is_object()) problem("a sentence must be an object {\"raw\": ...}, found " + sentence.dump());
    references.push_back(strip(string_field(sentence, "raw")));
  }
  return {filename.substr(0, filename.find('.')), references};
}

std::optional<std::string> karpathy_split(const std::string& name) {
  if (name == "train" || name == "restval") return "train";
  if (name == "val") return "validation";
  if (name == "test") return "test";
  return std::nullopt;
}

// Runs `parse` on every row, turning a RowProblem into a FormatError or a skipped row.
template <typename Parse>
void for_each_row(const Json& rows, const std::string& path, const std::string& task,
                  const LoadOptions& options, VlDataset& dataset, Parse parse) {
  for (std::size_t index = 0; index < rows.size(); ++index) {
    const Json& row = rows[index];
    try {
      if (!row.is_object()) problem("row is not a JSON object");
      parse(row);
    } catch (const RowProblem& bad) {
      if (!options.skip_malformed)
        throw FormatError(path + ": row " + std::to_string(index) + " (id " + id_for_message(row, task) +
                          "): " + bad.message);
      ++dataset.skipped_rows;
    }
  }
}

void check_split(const std::string& split) {
  if (split != "train" && split != "validation" && split != "test")
    throw UsageError(expected_found("VL split", "train, validation or test", "\"" + split + "\""));
}

}  // namespace

std::vector<std::string> vl_task_names() { return {"vqa", "gqa", "nlvr", "caption"}; }

std::string vl_task_prompt(const std::string& task) {
  if (task == "vqa") return "vqa: ";
  // Sic: the authors' multitask.py spells the GQA prompt "gpa: ". Kept, so that models trained
  // with their prompts see the same input text.
  if (task == "gqa") return "gpa: ";
  if (task == "nlvr") return "nlvr: ";
  if (task == "caption") return "caption: ";
  throw UsageError(expected_found("VL task", "vqa, gqa, nlvr or caption", "\"" + task + "\""));
}

std::vector<std::string> vl_split_files(const std::string& task, const std::string& split) {
  vl_task_prompt(task);  // validates the task name
  check_split(split);
  if (task == "caption") return {"dataset_coco.json"};
  if (split == "train") return {"train.json"};
  if (split == "validation") return {"val.json", "valid.json", "minival.json", "karpathy_val.json", "testdev.json"};
  return {"test.json", "testdev.json", "karpathy_test.json"};
}

VlDataset load_vl_split(const std::string& task, const std::string& dir, const std::string& split,
                        const LoadOptions& options) {
  const std::vector<std::string> names = vl_split_files(task, split);
  std::string path;
  for (const std::string& name : names) {
    const std::string candidate = (std::filesystem::path(dir) / name).string();
    if (std::filesystem::is_regular_file(candidate)) {
      path = candidate;
      break;
    }
  }
  if (path.empty()) {
    std::string tried;
    for (const std::string& name : names) tried += (tried.empty() ? "" : ", ") + name;
    throw LoadError("VL " + task + " " + split + ": no data file in " + dir + " (tried " + tried + ")");
  }

  const Json json = read_ordered_json(path);
  VlDataset dataset;
  dataset.task = task;
  // Test files may be unlabelled (VQA test-dev/test-std); train and validation must be scored.
  const bool labelled_split = split != "test";
  if (task == "caption") {
    if (!json.is_object() || !json.contains("images") || !json["images"].is_array())
      throw FormatError(path + ": expected a Karpathy split file {\"images\": [...]}");
    for_each_row(json["images"], path, task, options, dataset, [&](const Json& image) {
      const std::string image_split = string_field(image, "split");
      const auto mapped = karpathy_split(image_split);
      if (!mapped) problem("unknown Karpathy split \"" + image_split + "\" (expected train, restval, val or test)");
      if (*mapped != split) return;
      auto [image_id, references] = karpathy_image(image);
      VlExample example;
      example.task = task;
      example.id = image_id;
      example.source = vl_task_prompt(task);
      example.image_ids = {image_id};
      example.references = references;
      if (split == "train") {
        for (const std::string& sentence : references) {
          example.target = sentence;
          dataset.examples.push_back(example);
        }
      } else {
        example.target = references.front();
        dataset.examples.push_back(std::move(example));
      }
    });
    return dataset;
  }

  if (!json.is_array()) throw FormatError(path + ": expected a JSON array of " + task + " rows");
  for_each_row(json, path, task, options, dataset, [&](const Json& row) {
    dataset.examples.push_back(task == "nlvr" ? nlvr_row(row, labelled_split)
                                              : question_row(row, task, labelled_split));
  });
  return dataset;
}

const std::string& sample_answer(const VlExample& example, double u) {
  static const std::string kNone;
  double total = 0;
  for (const auto& [answer, score] : example.answers) total += score;
  if (example.answers.empty() || !(total > 0)) return kNone;
  double cumulative = 0;
  const std::string* last_positive = &kNone;
  for (const auto& [answer, score] : example.answers) {
    if (!(score > 0)) continue;
    cumulative += score / total;
    last_positive = &answer;
    if (u < cumulative) return answer;
  }
  // Rounding can leave the cumulative sum just under 1 for u close to 1.
  return *last_positive;
}

}  // namespace ladder::data
