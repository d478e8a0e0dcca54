#include "validators.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace ladder::cli {
namespace {

// The whole string as a finite double, or false.
bool parse_real(const std::string& text, double& value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(value);
}

}  // namespace

CLI::Validator positive_real() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        if (!parse_real(text, value) || !(value > 0)) return "expected a number above 0, found " + text;
        return "";
      },
      "NUMBER > 0");
}

CLI::Validator non_negative_real() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        if (!parse_real(text, value) || value < 0) return "expected a number of 0 or more, found " + text;
        return "";
      },
      "NUMBER >= 0");
}

CLI::Validator whole_number(int64_t low, int64_t high) {
  const std::string range = std::to_string(low) + " to " + std::to_string(high);
  return CLI::Validator(
      [low, high, range](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits) return "expected a whole number from " + range + ", found " + text;
        errno = 0;
        const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
        if (errno != 0 || value < static_cast<unsigned long long>(low) || value > static_cast<unsigned long long>(high))
          return "expected a whole number from " + range + ", found " + text;
        return "";
      },
      "INTEGER " + range);
}

}  // namespace ladder::cli

namespace ladder::cli {

int64_t parse_byte_size(const std::string& text) {
  std::string digits = text;
  int shift = 0;
  const std::string suffixes = "KMGT";
  for (const std::string tail : {"iB", "B"})
    if (digits.size() > tail.size() && digits.compare(digits.size() - tail.size(), tail.size(), tail) == 0) {
      digits.resize(digits.size() - tail.size());
      break;
    }
  if (!digits.empty()) {
    const auto at = suffixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back()))));
    if (at != std::string::npos) {
      shift = 10 * static_cast<int>(at + 1);
      digits.pop_back();
    }
  }
  if (digits.empty() || digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  const long long value = std::strtoll(digits.c_str(), nullptr, 10);
  if (shift > 0 && value > (int64_t{1} << (62 - shift))) return -1;
  return static_cast<int64_t>(value) << shift;
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (parse_byte_size(text) < 0) return "expected a size such as 512M, 2G or 1048576 (bytes), found " + text;
        return "";
      },
      "SIZE (e.g. 512M, 2G)");
}

}  // namespace ladder::cli
