#pragma once
// Validators that say in one readable line what a flag takes (CLI11's own range checks print
// the full double range, 309 digits, and let NaN through).
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace ladder::cli {

// A finite real number > 0 (NaN and infinities refused).
CLI::Validator positive_real();
// A finite real number >= 0.
CLI::Validator non_negative_real();
// A whole number written in digits (no sign, exponent or fraction) in [low, high].
CLI::Validator whole_number(int64_t low, int64_t high);
// A size in bytes: digits with an optional binary suffix K, M, G or T (KiB, MiB...), e.g. 512M.
// parse_byte_size returns -1 for anything else.
CLI::Validator byte_size();
int64_t parse_byte_size(const std::string& text);
// The largest count any flag accepts: far beyond any run, far below overflow.
constexpr int64_t kMaxCount = int64_t{1} << 40;

}  // namespace ladder::cli
