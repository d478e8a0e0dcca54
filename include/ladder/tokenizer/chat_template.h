#pragma once
// A model folder's chat template (tokenizer_config.json's "chat_template", or
// chat_template.jinja), rendered the way transformers' apply_chat_template renders it: Jinja2
// with trim_blocks and lstrip_blocks, raise_exception(), and the variables messages,
// add_generation_prompt, bos_token and eos_token. Only the subset of Jinja that chat templates
// use is understood; anything else is a FormatError naming the template's file and line.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ladder {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;
};

class ChatTemplate {
 public:
  // Parses `source`; FormatError naming `origin` (a file, or "FILE: chat_template") and the line
  // on a syntax error or a construct outside the supported subset.
  ChatTemplate(const std::string& source, const std::string& origin);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with `variables` (a JSON object: messages, add_generation_prompt, bos_token, ...).
  // A raise_exception("...") in the template, or an error while rendering (an undefined
  // variable called, a type mismatch), is a UsageError naming origin and the template's message.
  std::string render(const nlohmann::json& variables) const;

  // messages + add_generation_prompt + bos_token + eos_token, as apply_chat_template passes them.
  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token) const;

  const std::string& origin() const;
  const std::string& source() const;  // the template's text, as given

 private:
  struct Program;
  std::unique_ptr<Program> program_;
};

// The chat template of a Hugging Face model folder: chat_template.jinja if present, else
// tokenizer_config.json's "chat_template" (a string, or a list of {name, template} from which
// "default" is taken). nullopt when the folder has none. FormatError naming the file when it is
// unreadable or the template does not parse.
std::optional<ChatTemplate> load_chat_template(const std::filesystem::path& model_dir);

}  // namespace ladder
