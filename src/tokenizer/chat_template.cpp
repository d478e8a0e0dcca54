// ChatTemplate: the public face of the interpreter in chat_template_{lexer,parser,render,...}.
#include "ladder/tokenizer/chat_template.h"

#include <fstream>
#include <sstream>

#include "chat_template_syntax.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"

namespace ladder {

struct ChatTemplate::Program {
  std::string origin;
  std::string source;
  chat_template::Body body;
};

namespace {

using chat_template::Json;

// nlohmann::json keeps object keys sorted; the interpreter keeps insertion order (as Python
// dicts do), so a converted object iterates in sorted order. Copied node by node rather than
// through dump(), which throws on strings that are not UTF-8.
Json ordered(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      Json out = Json::object();
      for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = ordered(it.value());
      return out;
    }
    case nlohmann::json::value_t::array: {
      Json out = Json::array();
      for (const auto& element : value) out.push_back(ordered(element));
      return out;
    }
    case nlohmann::json::value_t::string: return value.get<std::string>();
    case nlohmann::json::value_t::boolean: return value.get<bool>();
    case nlohmann::json::value_t::number_integer: return value.get<int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = value.get<uint64_t>();  // Python ints are unbounded; past int64, a float
      return u <= static_cast<uint64_t>(INT64_MAX) ? Json(static_cast<int64_t>(u)) : Json(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return value.get<double>();
    default: return nullptr;
  }
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw FormatError(path.string() + ": cannot read");
  return text.str();
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const std::string& origin) : program_(std::make_unique<Program>()) {
  program_->origin = origin;
  program_->source = source;
  program_->body = chat_template::parse_template(source, origin);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

const std::string& ChatTemplate::origin() const { return program_->origin; }
const std::string& ChatTemplate::source() const { return program_->source; }

std::string ChatTemplate::render(const nlohmann::json& variables) const {
  if (!variables.is_object())
    throw UsageError(program_->origin + ": the variables of a chat template must be a JSON object, found " +
                     std::string(variables.type_name()));
  return chat_template::render_template(program_->body, program_->origin, std::make_shared<const Json>(ordered(variables)));
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token) const {
  // Built here rather than through render() so each message keeps role before content, the
  // order a Python caller's {"role": ..., "content": ...} has (tojson shows it).
  Json list = Json::array();
  for (const ChatMessage& message : messages) {
    Json entry = Json::object();
    entry["role"] = message.role;
    entry["content"] = message.content;
    list.push_back(std::move(entry));
  }
  Json variables = Json::object();
  variables["messages"] = std::move(list);
  variables["add_generation_prompt"] = add_generation_prompt;
  variables["bos_token"] = bos_token;
  variables["eos_token"] = eos_token;
  return chat_template::render_template(program_->body, program_->origin, std::make_shared<const Json>(std::move(variables)));
}

std::optional<ChatTemplate> load_chat_template(const std::filesystem::path& model_dir) {
  std::error_code ignored;
  const std::filesystem::path jinja = model_dir / "chat_template.jinja";
  if (std::filesystem::is_regular_file(jinja, ignored)) return ChatTemplate(read_text_file(jinja), jinja.string());

  const std::filesystem::path config_path = model_dir / "tokenizer_config.json";
  if (!std::filesystem::is_regular_file(config_path, ignored)) return std::nullopt;
  const std::string config_name = config_path.string();
  const nlohmann::json config = read_json_file(config_name);
  if (!config.is_object()) throw FormatError(expected_found(config_name, "a JSON object", config.type_name()));
  const auto found = config.find("chat_template");
  if (found == config.end() || found->is_null()) return std::nullopt;
  const std::string origin = config_name + ": chat_template";
  if (found->is_string()) return ChatTemplate(found->get<std::string>(), origin);
  if (!found->is_array())
    throw FormatError(expected_found(config_name + ": \"chat_template\"", "a string or a list of {\"name\", \"template\"}",
                                     found->type_name()));
  // A list of named templates (transformers picks one with chat_template=NAME); ladder takes
  // the one named "default", as apply_chat_template does when no name is given.
  std::string names;
  for (const auto& entry : *found) {
    const bool well_formed = entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
                             entry.contains("template") && entry["template"].is_string();
    if (!well_formed)
      throw FormatError(expected_found(config_name + ": an entry of \"chat_template\"",
                                       "an object with string \"name\" and \"template\"", entry.dump().substr(0, 80)));
    const std::string name = entry["name"].get<std::string>();
    if (name == "default") return ChatTemplate(entry["template"].get<std::string>(), origin + " \"default\"");
    names += (names.empty() ? "\"" : ", \"") + name + "\"";
  }
  throw FormatError(config_name + ": \"chat_template\" lists templates named " + (names.empty() ? "(none)" : names) +
                    " but none named \"default\", which is the one ladder uses");
}

}  // namespace ladder
