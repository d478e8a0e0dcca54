#include "ladder/data/custom.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "ladder/data/table.h"
#include "ladder/error.h"

namespace ladder::data {

namespace {

using Json = nlohmann::json;

// One record: field name -> text, or a problem that makes the row malformed.
struct Record {
  std::size_t line = 0;
  std::map<std::string, std::string> values;
  std::string problem;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string json_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

// What a row that lacks a wanted field has instead, so that a file in another layout (Alpaca's
// instruction/input/output, a chat's messages) says which flags read it.
std::string fields_hint(const Json& object) {
  if (object.contains("messages") && object["messages"].is_array())
    return " (a chat row: read chat data with --task chat, which renders each conversation with the model's chat "
           "template)";
  std::string names;
  for (auto it = object.begin(); it != object.end(); ++it) names += (names.empty() ? "'" : ", '") + it.key() + "'";
  if (names.empty()) return " (the row is an empty object)";
  const std::string instruction = object.contains("instruction") ? "; instruction rows: --task chat" : "";
  return " (the row has " + names + ": name the fields to read with --source-field/--target-field, or "
         "--text-field/--label-field for classification" + instruction + ")";
}

// Reads every record with the fields in `wanted`; a record missing one gets a problem.
std::vector<Record> read_records(const std::string& path, const std::vector<std::string>& wanted) {
  const std::string text = read_text_file(path, "custom data");
  std::vector<Record> records;
  const FileFormat format = format_from_path(path);
  if (format == FileFormat::kJsonl) {
    for (const TextRow& line : split_lines(text)) {
      Record record;
      record.line = line.line;
      Json object = Json::parse(line.fields[0], nullptr, /*allow_exceptions=*/false);
      if (object.is_discarded() || !object.is_object()) {
        record.problem = "not a JSON object";
      } else {
        for (const std::string& name : wanted) {
          auto it = object.find(name);
          if (it == object.end() || it->is_null()) {
            record.problem = "missing field '" + name + "'" + fields_hint(object);
            break;
          }
          if (it->is_array() || it->is_object()) {
            record.problem = "field '" + name + "' is not a string, number or boolean";
            break;
          }
          record.values[name] = json_text(*it);
        }
      }
      records.push_back(std::move(record));
    }
    return records;
  }
  const std::vector<TextRow> rows = format == FileFormat::kCsv ? read_csv_rows(text, path) : read_tsv_rows(text);
  if (rows.empty()) throw FormatError("custom data: " + path + " is empty (expected a header row)");
  const std::vector<std::string>& header = rows[0].fields;
  std::vector<int> columns;
  for (const std::string& name : wanted) {
    const int column = find_column(header, name);
    if (column < 0) {
      std::string found;
      for (const auto& h : header) found += (found.empty() ? "" : ", ") + h;
      throw FormatError(at_line(path, rows[0].line, expected_found("header", "a column named '" + name + "'",
                                                                    "[" + found + "]", "check the field flags")));
    }
    columns.push_back(column);
  }
  for (std::size_t r = 1; r < rows.size(); ++r) {
    Record record;
    record.line = rows[r].line;
    if (rows[r].fields.size() != header.size()) {
      record.problem = expected_found("columns", std::to_string(header.size()),
                                      std::to_string(rows[r].fields.size()));
    } else {
      for (std::size_t i = 0; i < wanted.size(); ++i) record.values[wanted[i]] = rows[r].fields[columns[i]];
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::string trim_spaces(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") + 1 - begin);
}

std::string with_prefix(const std::string& prefix, const std::string& text) {
  return prefix.empty() ? text : prefix + " " + text;
}

void finish_row(const std::string& path, const Record& record, const std::string& problem,
                const LoadOptions& options, Dataset& dataset) {
  if (!options.skip_malformed) throw FormatError(at_line(path, record.line, problem));
  ++dataset.skipped_rows;
}

}  // namespace

FileFormat format_from_path(const std::string& path) {
  const std::size_t dot = path.find_last_of('.');
  const std::size_t slash = path.find_last_of('/');
  const std::string ext = dot == std::string::npos || (slash != std::string::npos && dot < slash)
                              ? "" : lower(path.substr(dot + 1));
  if (ext == "jsonl" || ext == "json") return FileFormat::kJsonl;
  if (ext == "csv") return FileFormat::kCsv;
  if (ext == "tsv" || ext == "txt") return FileFormat::kTsv;
  throw UsageError(expected_found("data file extension of " + path, ".jsonl, .json, .csv, .tsv or .txt",
                                  "'" + ext + "'"));
}

Dataset load_custom_classification(const std::string& path, const ClassificationFields& fields,
                                   const std::string& task, const LoadOptions& options) {
  std::vector<std::string> wanted = {fields.text_field, fields.label_field};
  if (!fields.text_pair_field.empty()) wanted.push_back(fields.text_pair_field);
  const std::set<std::string> known(fields.known_labels.begin(), fields.known_labels.end());
  Dataset dataset;
  dataset.task = task;
  std::set<std::string> seen;
  for (const Record& record : read_records(path, wanted)) {
    std::string problem = record.problem;
    // Labels are compared as trimmed text, in training targets and references alike (" pos "
    // in a file is the label "pos").
    const std::string label = trim_spaces(record.values.count(fields.label_field) ? record.values.at(fields.label_field) : "");
    if (problem.empty()) {
      if (label.empty()) {
        problem = "empty label in field '" + fields.label_field + "'";
      } else if (!known.empty() && known.count(label) == 0) {
        problem = "label '" + label + "' is not in the run's label set";
      }
    }
    if (!problem.empty()) {
      finish_row(path, record, problem, options, dataset);
      continue;
    }
    const std::string& text = record.values.at(fields.text_field);
    std::string source;
    if (fields.text_pair_field.empty()) {
      source = with_prefix(fields.prefix, text);
    } else {
      source = with_prefix(fields.prefix, fields.text_field + ": " + text + " " + fields.text_pair_field +
                                              ": " + record.values.at(fields.text_pair_field));
    }
    seen.insert(label);
    Example example{std::move(source), label};
    example.index = dataset.examples.size();  // position among the file's usable rows
    dataset.examples.push_back(std::move(example));
  }
  if (dataset.examples.empty()) throw FormatError("custom data: " + path + " has no usable rows");
  dataset.labels = known.empty() ? std::vector<std::string>(seen.begin(), seen.end()) : fields.known_labels;
  return dataset;
}

Dataset load_custom_seq2seq(const std::string& path, const Seq2SeqFields& fields, const std::string& task,
                            const LoadOptions& options) {
  Dataset dataset;
  dataset.task = task;
  for (const Record& record : read_records(path, {fields.source_field, fields.target_field})) {
    if (!record.problem.empty()) {
      finish_row(path, record, record.problem, options, dataset);
      continue;
    }
    // Targets trimmed as predictions are before they are compared.
    Example example{with_prefix(fields.prefix, record.values.at(fields.source_field)),
                    trim_spaces(record.values.at(fields.target_field))};
    example.index = dataset.examples.size();  // position among the file's usable rows
    dataset.examples.push_back(std::move(example));
  }
  if (dataset.examples.empty()) throw FormatError("custom data: " + path + " has no usable rows");
  return dataset;
}

Dataset load_custom_text(const std::string& path, const std::string& text_field, const std::string& task,
                         const LoadOptions& options) {
  Dataset dataset;
  dataset.task = task;
  const auto add = [&](const Record& record, const std::string& text) {
    std::string problem = record.problem;
    if (problem.empty() && trim_spaces(text).empty()) problem = "empty text";
    if (!problem.empty()) return finish_row(path, record, problem, options, dataset);
    Example example{"", text};
    example.index = dataset.examples.size();
    dataset.examples.push_back(std::move(example));
  };
  const std::size_t dot = path.find_last_of('.');
  if (dot != std::string::npos && lower(path.substr(dot)) == ".txt") {
    for (const TextRow& line : split_lines(read_text_file(path, "text data"))) {
      const std::string& text = line.fields[0];  // line ends already dropped
      if (trim_spaces(text).empty()) continue;    // blank lines separate nothing
      Record record;
      record.line = line.line;
      add(record, text);
    }
  } else {
    for (const Record& record : read_records(path, {text_field}))
      add(record, record.values.count(text_field) ? record.values.at(text_field) : "");
  }
  if (dataset.examples.empty()) throw FormatError("text data: " + path + " has no usable rows");
  return dataset;
}

void save_labels(const std::string& path, const std::vector<std::string>& labels) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write label file " + temp);
    out << Json{{"labels", labels}}.dump(2) << "\n";
    out.flush();
    if (!out) throw Error("error while writing label file " + temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw Error("cannot rename " + temp + " to " + path);
  }
}

std::vector<std::string> load_labels(const std::string& path) {
  const std::string text = read_text_file(path, "label file");
  const Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw FormatError("label file " + path + ": not valid JSON");
  const auto it = json.is_object() ? json.find("labels") : json.end();
  if (it == json.end() || !it->is_array()) {
    throw FormatError(expected_found("label file " + path, "an object with a \"labels\" array", json.type_name()));
  }
  std::vector<std::string> labels;
  std::set<std::string> unique;
  for (const Json& label : *it) {
    if (!label.is_string()) {
      throw FormatError(expected_found("label file " + path + " entry", "a string", label.dump()));
    }
    if (!unique.insert(label.get<std::string>()).second) {
      throw FormatError("label file " + path + ": duplicate label '" + label.get<std::string>() + "'");
    }
    labels.push_back(label.get<std::string>());
  }
  return labels;
}

}  // namespace ladder::data
