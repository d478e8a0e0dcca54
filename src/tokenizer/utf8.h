#pragma once
// UTF-8 helpers with sentencepiece's exact rules (its string_util), since segment boundaries
// and the handling of malformed bytes must match it byte for byte.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ladder::tokenizer::utf8 {

// Length of the character starting with `lead`, from its high nibble alone (no validation).
inline size_t char_length(char lead) {
  static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[static_cast<uint8_t>(lead) >> 4];
}

// True when `text` starts with a well-formed character (no overlong form, no surrogate,
// <= U+10FFFF); `length` gets its byte length, or 1 when malformed. `text` must not be empty.
inline bool valid_prefix(std::string_view text, size_t& length) {
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[i])); };
  const auto trail = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
  const auto valid_code_point = [](uint32_t c) {
    return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF);
  };
  const size_t n = text.size();
  const uint32_t b0 = byte(0);
  length = 1;
  if (b0 < 0x80) return true;
  if (n >= 2 && (b0 & 0xE0) == 0xC0 && trail(1)) {
    const uint32_t c = ((b0 & 0x1F) << 6) | (byte(1) & 0x3F);
    if (c >= 0x80) return length = 2, true;
  } else if (n >= 3 && (b0 & 0xF0) == 0xE0 && trail(1) && trail(2)) {
    const uint32_t c = ((b0 & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    if (c >= 0x800 && valid_code_point(c)) return length = 3, true;
  } else if (n >= 4 && (b0 & 0xF8) == 0xF0 && trail(1) && trail(2) && trail(3)) {
    const uint32_t c =
        ((b0 & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
    if (c >= 0x10000 && valid_code_point(c)) return length = 4, true;
  }
  return false;
}

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";      // U+2581 '▁'

}  // namespace ladder::tokenizer::utf8
