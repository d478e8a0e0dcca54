// Chat and instruction rows -> prompt/answer pairs through a chat template (data/chat.h).
#include "ladder/data/chat.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "expect_error.h"
#include "ladder/error.h"

namespace ladder::data {
namespace {

using test::contains;
using test::error_of;

const std::string kDir = std::string(LADDER_TEST_DATA) + "/chat";

ChatTemplate turns_template() {
  std::ifstream in(kDir + "/turns.jinja");
  std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ChatTemplate(source, kDir + "/turns.jinja");
}

std::string write_rows(const std::string& name, const std::string& rows) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << rows;
  return path;
}

TEST(ChatData, EachLayoutBecomesTheTemplatesPromptAndTheLastAnswer) {
  const ChatTemplate t = turns_template();
  const Dataset d = load_custom_chat(kDir + "/train.jsonl", {&t, "</s>"});
  ASSERT_EQ(d.examples.size(), 5u);
  const std::string system = "<|turn|>system\nYou are helpful.<|end|>\n";
  EXPECT_EQ(d.examples[0].source, system + "<|turn|>user\nWhat colour is the sky?<|end|>\n<|turn|>assistant\n");
  EXPECT_EQ(d.examples[0].target, "Blue.");
  // The row's own system message replaces the template's default; the answer is trimmed.
  EXPECT_EQ(d.examples[1].source,
            "<|turn|>system\nAnswer in one word.<|end|>\n<|turn|>user\nOpposite of hot?<|end|>\n<|turn|>assistant\n");
  EXPECT_EQ(d.examples[1].target, "Cold.");
  // Alpaca: the instruction, a blank line and the input, as one user message; no input, no line.
  EXPECT_EQ(d.examples[2].source, system + "<|turn|>user\nAdd the numbers.\n\n2 and 3<|end|>\n<|turn|>assistant\n");
  EXPECT_EQ(d.examples[2].target, "5");
  EXPECT_EQ(d.examples[3].source, system + "<|turn|>user\nSay hello.<|end|>\n<|turn|>assistant\n");
  // Earlier turns are context; only the last answer is the target.
  EXPECT_EQ(d.examples[4].source, system +
                                      "<|turn|>user\nHi<|end|>\n<|turn|>assistant\nHello.<|end|>\n<|turn|>user\nBye<|end|>\n"
                                      "<|turn|>assistant\n");
  EXPECT_EQ(d.examples[4].target, "Goodbye.");
  EXPECT_EQ(d.examples[4].index, 4u);
  EXPECT_EQ(chat_prompt({&t, ""}, "Hi"), system + "<|turn|>user\nHi<|end|>\n<|turn|>assistant\n");
}

TEST(ChatData, AMalformedRowNamesTheFileTheLineAndWhatIsWrong) {
  const ChatTemplate t = turns_template();
  const ChatFormat format{&t, ""};
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {R"({"prompt": "a", "completion": "b"})", {"'completion', 'prompt'", "--task completion"}},
      {R"({"messages": [{"role": "user", "content": "a"}]})", {"user's, not the assistant's"}},
      {R"({"messages": []})", {"non-empty list"}},
      {R"({"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]})", {"message 0", "'content'"}},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}]})", {"empty"}},
      {R"({"instruction": "a", "output": 5})", {"'output'"}},
      {"{not json", {"not valid JSON"}},
      {"[1, 2]", {"not a JSON object"}},
  };
  for (const auto& [row, parts] : cases) {
    const std::string path = write_rows("bad.jsonl", "{\"instruction\": \"ok\", \"output\": \"fine\"}\n" + row + "\n");
    const std::string message = error_of<FormatError>([&] { load_custom_chat(path, format); });
    EXPECT_TRUE(contains(message, path + ":2:")) << message;
    for (const auto& part : parts)
      EXPECT_TRUE(contains(message, part)) << row << " -> " << message;
    LoadOptions skip;
    skip.skip_malformed = true;
    const Dataset d = load_custom_chat(path, format, "custom", skip);
    EXPECT_EQ(d.examples.size(), 1u);
    EXPECT_EQ(d.skipped_rows, 1u);
  }
  const std::string csv = write_rows("rows.csv", "messages\nx\n");
  EXPECT_TRUE(contains(error_of<UsageError>([&] { load_custom_chat(csv, format); }), "JSONL"));
}

TEST(ChatData, AConversationTheTemplateRefusesIsAMalformedRow) {
  const ChatTemplate strict(
      "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('roles must alternate user/assistant') }}{% endif %}{{ m['content'] }}{% endfor %}",
      "strict.jinja");
  const std::string path = write_rows(
      "two_users.jsonl",
      R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]})"
      "\n");
  const std::string message = error_of<FormatError>([&] { load_custom_chat(path, {&strict, ""}); });
  EXPECT_TRUE(contains(message, path + ":1:")) << message;
  EXPECT_TRUE(contains(message, "roles must alternate user/assistant")) << message;
}

}  // namespace
}  // namespace ladder::data
