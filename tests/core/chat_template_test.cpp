// Chat templates against tests/reference/chat_template_reference.py, which rendered the same
// templates and inline snippets with Jinja2 configured as transformers' apply_chat_template
// configures it; plus the loader, error messages, and hostile input.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/tokenizer/chat_template.h"

namespace ladder {
namespace {

using test::contains;
using test::error_of;

const std::string kDir = std::string(LADDER_TEST_DATA) + "/chat_template";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const nlohmann::json& golden() {
  static const nlohmann::json json = read_json_file(kDir + "/expected.json");
  return json;
}

std::string origin_of(const nlohmann::json& c) {
  return c.contains("template") ? kDir + "/" + c.at("template").get<std::string>() : "snippet " + c.at("name").get<std::string>();
}

ChatTemplate template_of(const nlohmann::json& c) {
  const std::string source = c.contains("template") ? read_file(origin_of(c)) : c.at("source").get<std::string>();
  return ChatTemplate(source, origin_of(c));
}

std::vector<ChatMessage> messages_of(const nlohmann::json& variables) {
  std::vector<ChatMessage> messages;
  for (const auto& m : variables.at("messages")) messages.push_back({m.at("role"), m.at("content")});
  return messages;
}

nlohmann::json conversation(bool add_generation_prompt) {
  return {{"messages", {{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Hello!"}}}},
          {"add_generation_prompt", add_generation_prompt},
          {"bos_token", "<s>"},
          {"eos_token", "</s>"}};
}

TEST(ChatTemplateGolden, EveryCaseRendersAsJinja2Does) {
  std::map<std::string, int> kinds;
  for (const auto& c : golden().at("cases")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const std::string origin = origin_of(c);
    const std::string kind = c.value("error", "output");
    ++kinds[kind];
    if (kind == "syntax") {
      const std::string message = error_of<FormatError>([&] { template_of(c); });
      EXPECT_TRUE(contains(message, origin + ": line ")) << message;
      continue;
    }
    const ChatTemplate chat_template = template_of(c);
    const nlohmann::json& variables = c.at("variables");
    if (kind == "refused") {
      const std::string message = error_of<UsageError>([&] { chat_template.render(variables); });
      EXPECT_EQ(message, origin + ": the chat template refused: " + c.at("message").get<std::string>());
    } else if (kind == "render") {
      const std::string message = error_of<UsageError>([&] { chat_template.render(variables); });
      EXPECT_TRUE(contains(message, origin + ": line ")) << message;
    } else {
      EXPECT_EQ(chat_template.render(variables), c.at("expected").get<std::string>());
    }
    if (c.contains("apply_expected")) {
      const std::string applied = chat_template.apply(messages_of(variables), variables.at("add_generation_prompt"),
                                                      variables.at("bos_token"), variables.at("eos_token"));
      EXPECT_EQ(applied, c.at("apply_expected").get<std::string>());
    }
  }
  // The golden covers every outcome, and all eight templates with their conversations.
  EXPECT_GT(kinds["output"], 200);
  EXPECT_GT(kinds["refused"], 10);
  EXPECT_GT(kinds["render"], 10);
  EXPECT_GT(kinds["syntax"], 10);
  int templates = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) templates += entry.path().extension() == ".jinja";
  EXPECT_EQ(templates, 8);
}

TEST(ChatTemplateGolden, ApplyPassesRoleBeforeContent) {
  // tojson shows key order: apply() builds {"role", "content"} as a Python caller would, while
  // render() gets nlohmann::json's sorted keys.
  const ChatTemplate t("{{ messages | tojson }}", "inline");
  EXPECT_EQ(t.apply({{"user", "hi"}}, false, "", ""), R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(t.render(conversation(false)),
            R"([{"content": "Hi", "role": "user"}, {"content": "Hello!", "role": "assistant"}])");
}

TEST(ChatTemplateErrors, SyntaxErrorsNameOriginAndLine) {
  const auto format_error = [](const std::string& source) {
    return error_of<FormatError>([&] { ChatTemplate(source, "model/chat_template.jinja"); });
  };
  EXPECT_TRUE(contains(format_error("line one\n{% if true %}\n{{ 1 + }}\n{% endif %}"),
                       "model/chat_template.jinja: line 3: expected an expression, found '}}'"));
  EXPECT_TRUE(contains(format_error("{% for m in messages %}\n\nx"), "line 3: unexpected end of template, expected {% endfor %}"));
  EXPECT_TRUE(contains(format_error("a\n{{ 'x' | shout }}"), "line 2: unknown filter 'shout'"));
  EXPECT_TRUE(contains(format_error("{{ x is odd_looking }}"), "line 1: unknown test 'odd_looking'"));
  EXPECT_TRUE(contains(format_error("\n\n{% endif %}"), "line 3: unknown tag 'endif'"));
  EXPECT_TRUE(contains(format_error("{% if x %}{% endfor %}"), "unknown tag 'endfor', expected {% elif %} or {% else %} or {% endif %}"));
  EXPECT_TRUE(contains(format_error("ok\n{{ 'never closed"), "line 2: unterminated string literal"));
  EXPECT_TRUE(contains(format_error("{# never closed"), "line 1: missing end of comment tag"));
  EXPECT_TRUE(contains(format_error("x\n{{ messages[0]"), "line 2: unexpected end of template"));
  EXPECT_TRUE(contains(format_error("{{ a ] }}"), "unexpected ']'"));
  EXPECT_TRUE(contains(format_error("{% raw %}no end"), "missing end of raw directive"));
  EXPECT_TRUE(contains(format_error("{{ 99999999999999999999 }}"), "too large"));
  // Outside the subset: refused while parsing, by name (Jinja would accept an unused macro).
  EXPECT_TRUE(contains(format_error("{% macro m() %}x{% endmacro %}"), "line 1: {% macro %} is not supported"));
  EXPECT_TRUE(contains(format_error("\n{% include 'x.jinja' %}"), "line 2: {% include %} is not supported"));
  EXPECT_TRUE(contains(format_error("{% for x in xs recursive %}{% endfor %}"), "recursive for loops are not supported"));
  EXPECT_TRUE(contains(format_error("{% set a, b = 1, 2 %}"), "not supported"));
}

TEST(ChatTemplateErrors, RenderErrorsNameOriginAndLine) {
  const auto usage_error = [](const std::string& source, const nlohmann::json& variables) {
    const ChatTemplate t(source, "inline");
    return error_of<UsageError>([&] { t.render(variables); });
  };
  const nlohmann::json chat = conversation(true);
  EXPECT_EQ(usage_error("a\nb\n{{ tools.first }}", chat), "inline: line 3: 'tools' is undefined");
  EXPECT_EQ(usage_error("{{ messages[0].content + 1 }}", chat),
            "inline: line 1: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(usage_error("{{ messages | length > 'x' }}", chat),
            "inline: line 1: '<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(usage_error("{% if true %}{{ 'x' | shout }}{% endif %}", chat), "inline: line 1: no filter named 'shout'");
  EXPECT_EQ(usage_error("{{ 'x'.strip(1, 2) }}", chat), "inline: line 1: strip() takes at most 1 arguments (2 given)");
  EXPECT_EQ(usage_error("{% for a, b in messages %}{% endfor %}", chat),
            "inline: line 1: cannot unpack non-iterable dict object");
  EXPECT_EQ(usage_error("{{ raise_exception('Only user and assistant roles are supported!') }}", chat),
            "inline: the chat template refused: Only user and assistant roles are supported!");
  EXPECT_TRUE(contains(usage_error("{{ x }}", nlohmann::json::array()), "must be a JSON object"));
}

TEST(ChatTemplateErrors, GlobalsAndVariables) {
  const ChatTemplate t("{{ range is defined }} {{ strftime_now is defined }} {{ strftime_now('%Y') | length }}"
                       " {{ namespace(a=1).a }} {{ dict(b=2).b }} {{ range }}",
                       "globals");
  EXPECT_EQ(t.render(nlohmann::json::object()), "True True 4 1 2 <function range>");
  // The caller's variables shadow the global functions, as Jinja's context does.
  EXPECT_EQ(ChatTemplate("{{ range }}", "shadow").render({{"range", "mine"}}), "mine");
}

TEST(ChatTemplateErrors, ApplyAndMoveKeepTheOrigin) {
  ChatTemplate first("{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
                     "{% if add_generation_prompt %}assistant:{% endif %}{{ eos_token }}",
                     "first");
  EXPECT_EQ(first.apply({{"user", "Hi"}, {"assistant", "Yo"}}, true, "<s>", "</s>"), "<s>user:Hi;assistant:Yo;assistant:</s>");
  ChatTemplate second(std::move(first));
  EXPECT_EQ(second.origin(), "first");
  EXPECT_EQ(second.apply({}, false, "", "."), ".");
  ChatTemplate third("x", "third");
  third = std::move(second);
  EXPECT_EQ(third.origin(), "first");
}

// A temporary model folder, removed afterwards.
class ModelDir {
 public:
  explicit ModelDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / ("ladder_chat_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ModelDir() { std::filesystem::remove_all(path_); }
  ModelDir(const ModelDir&) = delete;
  ModelDir& operator=(const ModelDir&) = delete;
  void write(const std::string& file, const std::string& text) const { std::ofstream(path_ / file, std::ios::binary) << text; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(ChatTemplateLoad, JinjaFileComesFirst) {
  const ModelDir dir("jinja");
  dir.write("chat_template.jinja", "{% for m in messages %}[{{ m.role }}]{% endfor %}\n");
  dir.write("tokenizer_config.json", R"({"chat_template": "from the config"})");
  const std::optional<ChatTemplate> loaded = load_chat_template(dir.path());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->origin(), dir.file("chat_template.jinja"));
  EXPECT_EQ(loaded->render(conversation(false)), "[user][assistant]");  // its final newline dropped, as Jinja does
}

TEST(ChatTemplateLoad, ConfigStringOrDefaultOfAList) {
  const ModelDir dir("config");
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": "{{ bos_token }}{{ messages | length }}"})");
  std::optional<ChatTemplate> loaded = load_chat_template(dir.path());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->render(conversation(false)), "<s>2");
  EXPECT_EQ(loaded->origin(), dir.file("tokenizer_config.json") + ": chat_template");

  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"},
                                                           {"name": "default", "template": "plain {{ eos_token }}"}]})");
  loaded = load_chat_template(dir.path());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->render(conversation(false)), "plain </s>");
}

TEST(ChatTemplateLoad, ListWithoutDefaultNamesTheChoices) {
  const ModelDir dir("nodefault");
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "a"},
                                                           {"name": "rag", "template": "b"}]})");
  const std::string message = error_of<FormatError>([&] { load_chat_template(dir.path()); });
  EXPECT_TRUE(contains(message, dir.file("tokenizer_config.json"))) << message;
  EXPECT_TRUE(contains(message, "\"tool_use\", \"rag\"")) << message;
  EXPECT_TRUE(contains(message, "none named \"default\"")) << message;

  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "default"}]})");
  EXPECT_TRUE(contains(error_of<FormatError>([&] { load_chat_template(dir.path()); }), "\"name\" and \"template\""));
  dir.write("tokenizer_config.json", R"({"chat_template": 42})");
  EXPECT_TRUE(contains(error_of<FormatError>([&] { load_chat_template(dir.path()); }), "a string or a list"));
}

TEST(ChatTemplateLoad, NoTemplateIsNullopt) {
  const ModelDir dir("none");
  EXPECT_FALSE(load_chat_template(dir.path()).has_value());
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_FALSE(load_chat_template(dir.path()).has_value());
  dir.write("tokenizer_config.json", R"({"chat_template": null})");
  EXPECT_FALSE(load_chat_template(dir.path()).has_value());
  EXPECT_FALSE(load_chat_template(dir.path() / "missing").has_value());
}

TEST(ChatTemplateLoad, MalformedFilesAreFormatErrorsNamingThem) {
  const ModelDir dir("malformed");
  dir.write("tokenizer_config.json", R"({"chat_template": "{{ x }}",)");
  std::string message = error_of<FormatError>([&] { load_chat_template(dir.path()); });
  EXPECT_TRUE(contains(message, dir.file("tokenizer_config.json"))) << message;
  dir.write("tokenizer_config.json", R"({"chat_template": "ok\n{% if %}"})");
  message = error_of<FormatError>([&] { load_chat_template(dir.path()); });
  EXPECT_TRUE(contains(message, dir.file("tokenizer_config.json") + ": chat_template: line 2: ")) << message;
  dir.write("chat_template.jinja", "{% for %}");
  message = error_of<FormatError>([&] { load_chat_template(dir.path()); });
  EXPECT_TRUE(contains(message, dir.file("chat_template.jinja") + ": line 1: ")) << message;
}

TEST(ChatTemplateHostile, DeepNestingIsRefusedWhileParsing) {
  const auto refused = [](const std::string& source) {
    const std::string message = error_of<FormatError>([&] { ChatTemplate(source, "hostile"); });
    EXPECT_TRUE(contains(message, "hostile: line 1: ")) << message;
    EXPECT_TRUE(contains(message, "nests deeper than")) << message;
  };
  const auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  refused("{{ " + repeat("(", 20000) + "1" + repeat(")", 20000) + " }}");
  refused("{{ " + repeat("[", 20000) + repeat("]", 20000) + " }}");
  refused(repeat("{% if true %}", 20000));
  refused("{{ " + repeat("not ", 20000) + "x }}");
  refused("{{ " + repeat("-", 20000) + "1 }}");
  refused("{{ 1" + repeat(" + 1", 20000) + " }}");
  refused("{{ x" + repeat(" | trim", 20000) + " }}");
  refused("{{ x" + repeat(".a", 20000) + " }}");
  refused("{{ 1" + repeat(" if x else 1", 20000) + " }}");
  // Within the caps, nesting works.
  const ChatTemplate fine("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}" + repeat("{% if true %}", 50) + "x" +
                              repeat("{% endif %}", 50),
                          "fine");
  EXPECT_EQ(fine.render(nlohmann::json::object()), "1x");
}

TEST(ChatTemplateHostile, UnterminatedInputIsAFormatError) {
  for (const std::string source : {"{{", "{{ 1", "{%", "{% if", "{% if true", "{#", "{{ 'abc", "{% raw %}", "{{ (", "{{ [1,",
                                   "{{ {'a':", "{% for x in", "{% set x =", "{{ x |", "{{ x is", "{{ x(", "{{ x[1:"}) {
    SCOPED_TRACE(source);
    const std::string message = error_of<FormatError>([&] { ChatTemplate(source, "cut"); });
    EXPECT_TRUE(contains(message, "cut: line 1: ")) << message;
  }
}

TEST(ChatTemplateHostile, RunawayRenderingStopsCleanly) {
  const auto usage_error = [](const std::string& source) {
    const ChatTemplate t(source, "runaway");
    return error_of<UsageError>([&] { t.render(nlohmann::json::object()); });
  };
  EXPECT_TRUE(contains(usage_error("{{ range(200000000000) | length }}"), "over the limit"));
  EXPECT_TRUE(contains(usage_error("{% for i in range(200000) %}{% for j in range(200000) %}{% endfor %}{% endfor %}"),
                       "steps"));
  EXPECT_TRUE(contains(usage_error("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                                   "{% endfor %}"),
                       "MiB"));
  EXPECT_TRUE(contains(usage_error("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
                                   "{% endfor %}"),
                       "size limit"));
  EXPECT_TRUE(contains(usage_error("{{ 'x' * 200000000 }}"), "size limit"));
  EXPECT_TRUE(contains(usage_error("{{ [1, 2] * 200000000 }}"), "size limit"));
  EXPECT_TRUE(contains(usage_error("{{ 'abcd'.replace('', 'x' * 30000000) }}"), "MiB"));
  EXPECT_TRUE(contains(usage_error("{% for i in range(1000000) %}{{ 'x' * 100 }}{% endfor %}"), "the output grew past"));
  EXPECT_TRUE(contains(usage_error("{{ 2 ** 64 }}"), "overflow"));
  EXPECT_TRUE(contains(usage_error("{{ (-9223372036854775807 - 1) // -1 }}"), "overflow"));
}

// Every prefix of every golden template, and random byte edits of them: each parses and renders
// or fails with a ladder::Error, never anything else.
TEST(ChatTemplateHostile, CutAndMutatedTemplatesFailCleanly) {
  const nlohmann::json variables = conversation(true);
  const auto attempt = [&](const std::string& source) {
    try {
      ChatTemplate(source, "mutant").render(variables);
    } catch (const Error&) {
    }
  };
  std::mt19937 random(1234);
  const std::string alphabet = "{}%#-+()[]'\"|.,:~ \n\tif endfor set x loop not in is\\";
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    if (entry.path().extension() != ".jinja") continue;
    const std::string source = read_file(entry.path().string());
    SCOPED_TRACE(entry.path().string());
    for (size_t n = 0; n <= source.size(); n += 3) attempt(source.substr(0, n));
    for (int i = 0; i < 300; ++i) {
      std::string mutant = source;
      for (int edits = 0; edits < 3; ++edits) {
        const size_t at = random() % (mutant.size() + 1);
        const char c = alphabet[random() % alphabet.size()];
        switch (random() % 3) {
          case 0: mutant.insert(mutant.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          case 1:
            if (at < mutant.size()) mutant.erase(at, 1);
            break;
          default:
            if (at < mutant.size()) mutant[at] = c;
        }
      }
      attempt(mutant);
    }
  }
}

}  // namespace
}  // namespace ladder
