#include "byte_level.h"

#include <array>
#include <unordered_map>

namespace ladder::tokenizer::byte_level {
namespace {

std::string utf8_of(uint32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
  return out;
}

struct Tables {
  std::array<std::string, 256> chars;
  std::unordered_map<std::string, uint8_t> bytes;
  Tables() {
    // Printable Latin-1 bytes stand for themselves; the others take U+0100 onwards in order.
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      chars[b] = utf8_of(printable ? b : next++);
      bytes[chars[b]] = static_cast<uint8_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& char_of_byte(uint8_t byte) { return tables().chars[byte]; }

std::string encode_bytes(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += char_of_byte(static_cast<uint8_t>(c));
  return out;
}

bool decode_chars(std::string_view token, std::string& bytes) {
  for (size_t pos = 0; pos < token.size();) {
    // Every character of the alphabet is 1 or 2 bytes of UTF-8.
    const size_t length = (static_cast<uint8_t>(token[pos]) & 0xE0) == 0xC0 ? 2 : 1;
    auto it = tables().bytes.find(std::string(token.substr(pos, length)));
    if (it == tables().bytes.end()) return false;
    bytes.push_back(static_cast<char>(it->second));
    pos += length;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  std::string out;
  const auto at = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  for (size_t i = 0; i < s.size();) {
    const uint8_t lead = at(i);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    // Continuation bytes needed, and the range allowed for the first one (Unicode table 3-7).
    int needed = 0;
    uint8_t low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) needed = 1;
    else if (lead == 0xE0) needed = 2, low = 0xA0;
    else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) needed = 2;
    else if (lead == 0xED) needed = 2, high = 0x9F;
    else if (lead == 0xF0) needed = 3, low = 0x90;
    else if (lead >= 0xF1 && lead <= 0xF3) needed = 3;
    else if (lead == 0xF4) needed = 3, high = 0x8F;
    size_t j = i + 1;
    int matched = 0;
    while (matched < needed && j < s.size() && at(j) >= low && at(j) <= high) {
      ++j;
      ++matched;
      low = 0x80, high = 0xBF;
    }
    if (needed > 0 && matched == needed) out.append(s.substr(i, j - i));
    else out += kReplacement;
    i = needed == 0 ? i + 1 : j;
  }
  return out;
}

}  // namespace ladder::tokenizer::byte_level
