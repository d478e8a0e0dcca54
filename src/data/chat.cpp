#include "ladder/data/chat.h"

#include <nlohmann/json.hpp>

#include "ladder/data/custom.h"
#include "ladder/data/table.h"
#include "ladder/error.h"

namespace ladder::data {
namespace {

using Json = nlohmann::json;

std::string trim_spaces(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") + 1 - begin);
}

const std::string* string_field(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

// The conversation of one row, or a problem.
std::vector<ChatMessage> conversation(const Json& row, std::string& problem) {
  std::vector<ChatMessage> messages;
  if (!row.is_object()) {
    problem = "not a JSON object";
    return messages;
  }
  if (row.contains("messages")) {
    const Json& list = row["messages"];
    if (!list.is_array() || list.empty()) {
      problem = "'messages' is not a non-empty list";
      return messages;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string* role = list[i].is_object() ? string_field(list[i], "role") : nullptr;
      const std::string* content = list[i].is_object() ? string_field(list[i], "content") : nullptr;
      if (!role || !content) {
        problem = "message " + std::to_string(i) + " is not an object with string 'role' and 'content'";
        return {};
      }
      messages.push_back({*role, *content});
    }
  } else if (row.contains("instruction")) {
    const std::string* instruction = string_field(row, "instruction");
    const std::string* output = string_field(row, "output");
    const bool input_ok = !row.contains("input") || row["input"].is_null() || row["input"].is_string();
    if (!instruction || !output || !input_ok) {
      problem = "an instruction row needs string 'instruction' and 'output' (and 'input', if any, a string)";
      return messages;
    }
    const std::string* input = string_field(row, "input");
    std::string user = *instruction;
    if (input && !trim_spaces(*input).empty()) user += "\n\n" + *input;
    messages = {{"user", user}, {"assistant", *output}};
  } else {
    std::string names;
    for (auto it = row.begin(); it != row.end(); ++it) names += (names.empty() ? "'" : ", '") + it.key() + "'";
    problem = "neither a chat row ('messages') nor an instruction row ('instruction', 'output'); the row has " +
              (names.empty() ? std::string("no fields") : names) +
              " (prompt/completion pairs: --task completion with --source-field/--target-field)";
    return messages;
  }
  if (messages.back().role != "assistant") {
    problem = "the last message is " + messages.back().role + "'s, not the assistant's: there is no answer to learn";
    return {};
  }
  if (trim_spaces(messages.back().content).empty()) {
    problem = "the assistant's last message is empty";
    return {};
  }
  return messages;
}

std::string render(const ChatFormat& format, const std::vector<ChatMessage>& messages) {
  if (!format.chat_template) throw Error("internal: chat data without a chat template");
  return format.chat_template->apply(messages, /*add_generation_prompt=*/true, /*bos_token=*/"", format.eos_token);
}

}  // namespace

Dataset load_custom_chat(const std::string& path, const ChatFormat& format, const std::string& task,
                         const LoadOptions& options) {
  if (format_from_path(path) != FileFormat::kJsonl)
    throw UsageError(path + ": chat and instruction data are JSONL files (one {\"messages\": [...]} or "
                     "{\"instruction\", \"input\", \"output\"} object per line)");
  Dataset dataset;
  dataset.task = task;
  for (const TextRow& line : split_lines(read_text_file(path, "chat data"))) {
    const Json row = Json::parse(line.fields[0], nullptr, /*allow_exceptions=*/false);
    std::string problem = row.is_discarded() ? "not valid JSON" : "";
    std::vector<ChatMessage> messages = problem.empty() ? conversation(row, problem) : std::vector<ChatMessage>{};
    std::string source;
    if (problem.empty()) {
      const std::string answer = messages.back().content;
      messages.pop_back();
      try {
        source = render(format, messages);
      } catch (const UsageError& e) {  // the template refused this conversation
        problem = e.what();
      }
      if (problem.empty()) {
        Example example{std::move(source), trim_spaces(answer)};
        example.index = dataset.examples.size();
        dataset.examples.push_back(std::move(example));
        continue;
      }
    }
    if (!options.skip_malformed) throw FormatError(at_line(path, line.line, problem));
    ++dataset.skipped_rows;
  }
  if (dataset.examples.empty()) throw FormatError("chat data: " + path + " has no usable rows");
  return dataset;
}

std::string chat_prompt(const ChatFormat& format, const std::string& user_text) {
  return render(format, {{"user", user_text}});
}

}  // namespace ladder::data
