#pragma once
// GPT-2's byte-level alphabet (every byte as a printable character) and Rust's lossy UTF-8
// decoding, which Hugging Face's ByteLevel pre-tokenizer and decoder are defined by.
#include <cstdint>
#include <string>
#include <string_view>

namespace ladder::tokenizer::byte_level {

// The UTF-8 encoding of the character that stands for `byte`.
const std::string& char_of_byte(uint8_t byte);
// Maps each byte of `bytes` to its character.
std::string encode_bytes(std::string_view bytes);
// The bytes of a token made of byte-level characters; false when a character is not one (the
// decoder then takes the token's own bytes, as Hugging Face's does).
bool decode_chars(std::string_view token, std::string& bytes);
// String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace ladder::tokenizer::byte_level
