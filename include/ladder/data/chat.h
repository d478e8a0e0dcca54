#pragma once
// Instruction and chat data sets (JSONL), rendered with a chat template into prompt/answer
// pairs: the prompt is everything before the last assistant message, as the model's chat
// template writes it with the generation prompt; the answer is that message's content (trimmed,
// as all targets). Rows of either layout, in one file or mixed:
//   {"messages": [{"role": "system"|"user"|"assistant"|..., "content": "..."}, ...]}
//       ending with an assistant message; earlier turns are context (no loss);
//   {"instruction": "...", "input": "..." (optional, may be empty), "output": "..."}
//       (Alpaca): one user message, the instruction and, when given, a blank line and the input.
// A row that is neither, or a malformed one, is a FormatError "FILE:LINE: ..." (or skipped and
// counted with LoadOptions::skip_malformed); a template that refuses a conversation
// (raise_exception) is reported the same way.
#include <string>
#include <vector>

#include "ladder/data/example.h"
#include "ladder/tokenizer/chat_template.h"

namespace ladder::data {

struct ChatFormat {
  const ChatTemplate* chat_template = nullptr;
  // The template's bos_token is left empty: the tokenizer adds the model's start token when it
  // reads the prompt, as it does for every other prompt (a template that writes it would double it).
  std::string eos_token;  // the model's end-of-sequence text, for templates that close turns with it
};

Dataset load_custom_chat(const std::string& path, const ChatFormat& format, const std::string& task = "custom",
                         const LoadOptions& options = {});

// The prompt a user's message becomes: [{"role": "user", "content": text}] with the generation prompt.
std::string chat_prompt(const ChatFormat& format, const std::string& user_text);

}  // namespace ladder::data
