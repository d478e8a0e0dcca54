#pragma once
// sentencepiece's decoding of a token sequence to text, shared by the unigram (T5) and BPE
// (Llama) tokenizers: '▁' becomes a space, the first piece's leading space goes, runs of byte
// pieces are reassembled as UTF-8 (each malformed byte becomes U+FFFD).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ladder::tokenizer {

struct DecodedToken {
  enum class Kind { kPiece, kByte, kLiteral } kind;
  std::string_view text;  // kPiece: the piece; kLiteral: written as it is (names, unk surface)
  uint8_t byte = 0;       // kByte
};

struct DecodeRules {
  bool strip_leading_space = true;  // add_dummy_prefix or remove_extra_whitespaces
  bool remove_extra_whitespaces = true;
};

std::string decode_tokens(const std::vector<DecodedToken>& tokens, const DecodeRules& rules);

// Byte pieces are named "<0xHH>" with two upper-case hex digits, e.g. "<0xC3>".
bool is_byte_piece_name(std::string_view piece);
// The byte of a "<0xHH>" piece name.
uint8_t byte_of_piece(std::string_view name);
// The name of byte `byte`'s piece, "<0xHH>".
std::string byte_piece_name(uint8_t byte);

}  // namespace ladder::tokenizer
