#include "piece_decoder.h"

#include <string>

#include "utf8.h"

namespace ladder::tokenizer {

bool is_byte_piece_name(std::string_view piece) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.substr(0, 3) == "<0x" && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

uint8_t byte_of_piece(std::string_view name) {
  return static_cast<uint8_t>(std::stoi(std::string(name.substr(3, 2)), nullptr, 16));
}

std::string byte_piece_name(uint8_t byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("<0x") + kHex[byte >> 4] + kHex[byte & 15] + '>';
}

std::string decode_tokens(const std::vector<DecodedToken>& tokens, const DecodeRules& rules) {
  std::string text;
  std::string bytes;  // a run of byte pieces, decoded together as UTF-8
  auto flush_bytes = [&]() {
    for (size_t offset = 0; offset < bytes.size();) {
      size_t length = 0;
      const std::string_view rest = std::string_view(bytes).substr(offset);
      text.append(utf8::valid_prefix(rest, length) ? rest.substr(0, length) : utf8::kReplacementChar);
      offset += length;
    }
    bytes.clear();
  };
  // sentencepiece strips the '▁' of the first piece only while nothing has been written
  // (and, without whitespace removal, only once).
  bool leading_space_seen = false;
  for (const DecodedToken& token : tokens) {
    if (token.kind == DecodedToken::Kind::kByte) {
      bytes.push_back(static_cast<char>(token.byte));
      continue;
    }
    flush_bytes();
    if (token.kind == DecodedToken::Kind::kLiteral) {
      text += token.text;
      continue;
    }
    std::string_view piece = token.text;
    if (rules.strip_leading_space && text.empty() && !leading_space_seen &&
        piece.substr(0, utf8::kSpaceSymbol.size()) == utf8::kSpaceSymbol) {
      piece.remove_prefix(utf8::kSpaceSymbol.size());
      leading_space_seen = !rules.remove_extra_whitespaces;
    }
    for (size_t pos = 0; pos < piece.size();) {
      if (piece.substr(pos, 3) == utf8::kSpaceSymbol) {
        text.push_back(' ');
        pos += 3;
      } else {
        text.push_back(piece[pos++]);
      }
    }
  }
  flush_bytes();
  return text;
}

}  // namespace ladder::tokenizer
