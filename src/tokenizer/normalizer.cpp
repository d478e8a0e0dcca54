#include "normalizer.h"

#include <cstring>

#include "ladder/error.h"
#include "utf8.h"

namespace ladder::tokenizer {

namespace {

// Accessors of one darts-clone double-array unit (darts.h, DoubleArrayUnit). A leaf unit
// has bit 31 set, so its label() never equals an input byte.
bool unit_has_leaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t unit_value(uint32_t unit) { return unit & ((1U << 31) - 1); }
uint32_t unit_label(uint32_t unit) { return unit & ((1U << 31) | 0xFF); }
uint32_t unit_offset(uint32_t unit) { return (unit >> 10) << ((unit & (1U << 9)) >> 6); }

}  // namespace

Normalizer::Normalizer(const NormalizerSpecFields& spec,
                       const std::vector<std::string>& user_defined, const std::string& source)
    : add_dummy_prefix_(spec.add_dummy_prefix),
      remove_extra_whitespaces_(spec.remove_extra_whitespaces),
      escape_whitespaces_(spec.escape_whitespaces) {
  const std::string& blob = spec.precompiled_charsmap;
  if (!blob.empty()) {
    // Layout: <uint32 trie byte size, little endian><double array><replacement strings>.
    auto fail = [&](const std::string& problem) {
      throw FormatError(source + ": normalizer_spec.precompiled_charsmap: " + problem +
                        " (corrupt model file?)");
    };
    uint32_t trie_bytes = 0;
    if (blob.size() <= sizeof(trie_bytes)) fail("shorter than its 4-byte header");
    std::memcpy(&trie_bytes, blob.data(), sizeof(trie_bytes));
    if (trie_bytes >= blob.size() - sizeof(trie_bytes) || trie_bytes % 4 != 0 || trie_bytes == 0) {
      fail(expected_found(
          "trie size",
          "a positive multiple of 4 below " + std::to_string(blob.size() - sizeof(trie_bytes)),
          std::to_string(trie_bytes)));
    }
    darts_units_.resize(trie_bytes / 4);
    std::memcpy(darts_units_.data(), blob.data() + sizeof(trie_bytes), trie_bytes);
    normalized_blob_ = blob.substr(sizeof(trie_bytes) + trie_bytes);
    // Every replacement is read up to a NUL; a final NUL keeps those reads inside the blob.
    if (normalized_blob_.back() != '\0') fail("replacement strings are not NUL-terminated");
  }
  std::vector<std::pair<std::string_view, int32_t>> keys;
  for (const std::string& piece : user_defined) keys.emplace_back(piece, 0);
  user_defined_ = PieceTrie(std::move(keys));
}

std::pair<size_t, uint32_t> Normalizer::longest_charsmap_match(std::string_view input) const {
  // darts-clone's commonPrefixSearch; every index is bounds-checked, so a corrupt trie can
  // only fail to match, never read outside the array.
  const size_t size = darts_units_.size();
  std::pair<size_t, uint32_t> best{0, 0};
  size_t id = unit_offset(darts_units_[0]);
  for (size_t i = 0; i < input.size(); ++i) {
    const auto byte = static_cast<uint8_t>(input[i]);
    id ^= byte;
    if (id >= size) break;
    const uint32_t unit = darts_units_[id];
    if (unit_label(unit) != byte) break;
    id ^= unit_offset(unit);
    if (id >= size) break;
    if (unit_has_leaf(unit)) {
      const uint32_t value = unit_value(darts_units_[id]);
      if (value < normalized_blob_.size()) best = {i + 1, value};
    }
  }
  return best;
}

std::pair<std::string_view, size_t> Normalizer::normalize_prefix(std::string_view input) const {
  // User-defined pieces are never rewritten, so they survive to be matched whole.
  if (!user_defined_.empty()) {
    const size_t length = user_defined_.longest_prefix(input);
    if (length > 0) return {input.substr(0, length), length};
  }
  if (!darts_units_.empty()) {
    const auto [length, offset] = longest_charsmap_match(input);
    if (length > 0) return {std::string_view(normalized_blob_.data() + offset), length};
  }
  size_t length = 0;
  // A malformed byte becomes U+FFFD; it consumes one byte only.
  if (!utf8::valid_prefix(input, length)) return {utf8::kReplacementChar, 1};
  return {input.substr(0, length), length};
}

std::string Normalizer::normalize(std::string_view input) const {
  std::string out;
  if (remove_extra_whitespaces_) {
    // Drop leading characters that normalise to exactly one space (tabs, NBSP, ...).
    while (!input.empty()) {
      const auto [replacement, consumed] = normalize_prefix(input);
      if (replacement != " ") break;
      input.remove_prefix(consumed);
    }
  }
  if (input.empty()) return out;

  out.reserve(input.size() * 3);
  const std::string_view space = escape_whitespaces_ ? utf8::kSpaceSymbol : std::string_view(" ");
  if (add_dummy_prefix_) out.append(space);

  bool previous_is_space = remove_extra_whitespaces_;
  while (!input.empty()) {
    auto [replacement, consumed] = normalize_prefix(input);
    // Collapse runs: spaces right after a space are dropped (also inside one replacement).
    while (previous_is_space && !replacement.empty() && replacement.front() == ' ') {
      replacement.remove_prefix(1);
    }
    if (!replacement.empty()) {
      for (const char c : replacement) {
        if (c == ' ') {
          out.append(space);
        } else {
          out.push_back(c);
        }
      }
      previous_is_space = replacement.back() == ' ';
    }
    input.remove_prefix(consumed);
    if (!remove_extra_whitespaces_) previous_is_space = false;
  }

  if (remove_extra_whitespaces_) {
    while (out.size() >= space.size() &&
           std::string_view(out).substr(out.size() - space.size()) == space) {
      out.resize(out.size() - space.size());
    }
  }
  return out;
}

}  // namespace ladder::tokenizer
