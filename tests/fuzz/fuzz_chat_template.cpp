// libFuzzer target: chat templates (include/ladder/tokenizer/chat_template.h) and chat data
// (include/ladder/data/chat.h). The input is a template: parsed, then rendered with three
// conversations, with and without the generation prompt; then the same bytes are read as a
// chat JSONL file rendered by a fixed ChatML-style template.
//
// Strict: the headers document ladder::Error subclasses only (FormatError while parsing,
// UsageError while rendering), so any other exception is a finding; the engine's limits (nesting,
// evaluation steps, output size) must turn runaway templates into those errors within the timeout.
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.h"
#include "ladder/data/chat.h"
#include "ladder/tokenizer/chat_template.h"

namespace {

template <typename Body>
void strictly(Body&& body) {
  try {
    body();
  } catch (const ladder::Error&) {
  } catch (const std::exception& error) {
    ladder_fuzz::fail(std::string("unexpected exception ") + typeid(error).name() + ": " + error.what());
  }
}

const std::vector<std::vector<ladder::ChatMessage>>& conversations() {
  static const std::vector<std::vector<ladder::ChatMessage>> all = {
      {{"user", "Hello"}},
      {{"system", "Be brief."}, {"user", "What is 2 + 2?"}, {"assistant", " 4 "}, {"user", "And 3 + 3?"}},
      {{"user", "quote \" and 'apostrophe' \\ {{ not a tag }} \xC3\xA9"}, {"assistant", ""}},
  };
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  strictly([&] {
    const ladder::ChatTemplate chat_template(text, "fuzz.jinja");
    for (const auto& messages : conversations())
      for (bool prompt : {false, true}) strictly([&] {
          ladder_fuzz::consume(chat_template.apply(messages, prompt, "<s>", "</s>").size());
        });
  });
  static const ladder::ChatTemplate chatml(
      "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      "chatml.jinja");
  const std::string path = ladder_fuzz::write_scratch("chat.jsonl", data, size);
  for (bool skip : {false, true}) strictly([&] {
      ladder::data::LoadOptions options;
      options.skip_malformed = skip;
      const ladder::data::Dataset dataset = ladder::data::load_custom_chat(path, {&chatml, "<|im_end|>"}, "custom", options);
      ladder_fuzz::consume(dataset.examples.size());
    });
  return 0;
}
