#include "chat_template_strings.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "chat_template_value.h"

namespace ladder::chat_template {
namespace {

enum class Case { kUpper, kLower, kTitle };

bool in(uint32_t c, uint32_t first, uint32_t last) { return c >= first && c <= last; }

// Latin Extended-A pairs its letters upper/lower, the upper one on even code points except in
// two stretches where it is on odd ones.
bool latin_a_upper_is_odd(uint32_t c) { return in(c, 0x139, 0x148) || in(c, 0x179, 0x17E); }
bool latin_a_paired(uint32_t c) { return in(c, 0x100, 0x137) || in(c, 0x139, 0x148) || in(c, 0x14A, 0x17E); }

// Python's case mapping for the scripts chat templates meet most (ASCII, Latin-1, Latin
// Extended-A, basic Greek and Cyrillic, with ß -> SS and the like); other characters keep
// their case. Greek's final sigma is not applied when lowering.
void append_mapped(std::string& out, uint32_t c, Case mode) {
  if (mode != Case::kLower) {
    if (in(c, 'a', 'z')) return append_utf8(out, c - 32);
    if (c == 0xDF) return out.append(mode == Case::kTitle ? "Ss" : "SS"), void();
    if (c == 0xB5) return append_utf8(out, 0x39C);
    if (in(c, 0xE0, 0xFE) && c != 0xF7) return append_utf8(out, c - 0x20);
    if (c == 0xFF) return append_utf8(out, 0x178);
    if (c == 0x131) return append_utf8(out, 'I');
    if (c == 0x149) return append_utf8(out, 0x2BC), append_utf8(out, 'N');
    if (c == 0x17F) return append_utf8(out, 'S');
    if (latin_a_paired(c) && c != 0x130 && (c % 2 == 1) != latin_a_upper_is_odd(c)) return append_utf8(out, c - 1);
    if (c == 0x3C2) return append_utf8(out, 0x3A3);
    if (in(c, 0x3B1, 0x3CB) || in(c, 0x430, 0x44F)) return append_utf8(out, c - 0x20);
    if (c == 0x390 || c == 0x3B0)  // ΐ and ΰ have no single upper case letter
      return append_utf8(out, c == 0x390 ? 0x399 : 0x3A5), append_utf8(out, 0x308), append_utf8(out, 0x301);
    if (c == 0x3AC) return append_utf8(out, 0x386);
    if (in(c, 0x3AD, 0x3AF)) return append_utf8(out, c - 0x25);
    if (c == 0x3CC) return append_utf8(out, 0x38C);
    if (in(c, 0x3CD, 0x3CE)) return append_utf8(out, c - 0x3F);
    if (in(c, 0x450, 0x45F)) return append_utf8(out, c - 0x50);
  } else {
    if (in(c, 'A', 'Z')) return append_utf8(out, c + 32);
    if (in(c, 0xC0, 0xDE) && c != 0xD7) return append_utf8(out, c + 0x20);
    if (c == 0x130) return append_utf8(out, 'i'), append_utf8(out, 0x307);
    if (c == 0x178) return append_utf8(out, 0xFF);
    if (latin_a_paired(c) && (c % 2 == 0) != latin_a_upper_is_odd(c)) return append_utf8(out, c + 1);
    if ((in(c, 0x391, 0x3AB) && c != 0x3A2) || in(c, 0x410, 0x42F)) return append_utf8(out, c + 0x20);
    if (c == 0x386) return append_utf8(out, 0x3AC);
    if (in(c, 0x388, 0x38A)) return append_utf8(out, c + 0x25);
    if (c == 0x38C) return append_utf8(out, 0x3CC);
    if (in(c, 0x38E, 0x38F)) return append_utf8(out, c + 0x3F);
    if (in(c, 0x400, 0x40F)) return append_utf8(out, c + 0x50);
  }
  append_utf8(out, c);
}

// Letters with case, which title() treats as the inside of a word.
bool is_cased(std::string_view cp) {
  const uint32_t c = decode_code_point(cp);
  if (in(c, 'a', 'z') || in(c, 'A', 'Z') || c == 0xB5 || c == 0xDF || c == 0x138 || c == 0x149) return true;
  std::string upper;
  std::string lower;
  append_mapped(upper, c, Case::kUpper);
  append_mapped(lower, c, Case::kLower);
  return upper != lower;
}

void append_cased(std::string& out, std::string_view cp, Case mode) {
  if (cp.size() > 1 && decode_code_point(cp) < 0x80) {  // a malformed sequence: keep its bytes
    out += cp;
    return;
  }
  append_mapped(out, decode_code_point(cp), mode);
}

std::string mapped(const std::string& s, Case mode) {
  std::string out;
  for (const std::string_view cp : code_points(s)) append_cased(out, cp, mode);
  return out;
}

std::string trim_copy(const std::string& s) { return strip(s, true, true, nullptr); }

}  // namespace

std::string python_upper(const std::string& s) { return mapped(s, Case::kUpper); }
std::string python_lower(const std::string& s) { return mapped(s, Case::kLower); }

std::string python_capitalize(const std::string& s) {
  std::string out;
  bool first = true;
  for (const std::string_view cp : code_points(s)) {
    append_cased(out, cp, first ? Case::kTitle : Case::kLower);
    first = false;
  }
  return out;
}

std::string python_title(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  for (const std::string_view cp : code_points(s)) {
    const bool cased = is_cased(cp);
    append_cased(out, cp, previous_cased ? Case::kLower : Case::kTitle);
    previous_cased = cased;
  }
  return out;
}

std::string jinja_title(const std::string& s) {
  // Jinja splits on runs of [-\s({[<] and capitalizes each piece.
  std::string out;
  bool word_start = true;
  for (const std::string_view cp : code_points(s)) {
    const bool separator = is_python_space(cp) || (cp.size() == 1 && std::string("-({[<").find(cp[0]) != std::string::npos);
    if (separator) {
      out += cp;
      word_start = true;
    } else {
      append_cased(out, cp, word_start ? Case::kUpper : Case::kLower);  // Jinja: item[0].upper()
      word_start = false;
    }
  }
  return out;
}

std::string python_replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count) {
  const auto limit = [&](size_t n) { return count < 0 ? n : std::min(n, static_cast<size_t>(count)); };
  if (old.empty()) {  // Python inserts the replacement around every character
    const std::vector<std::string_view> cps = code_points(s);
    const size_t inserts = limit(cps.size() + 1);
    check_size(s.size() + inserts * replacement.size(), "replace's result");
    std::string out;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (i < inserts) out += replacement;
      if (i < cps.size()) out += cps[i];
    }
    return out;
  }
  size_t occurrences = 0;
  for (size_t at = s.find(old); at != std::string::npos && occurrences < limit(SIZE_MAX); at = s.find(old, at + old.size()))
    ++occurrences;
  if (replacement.size() > old.size()) check_size(s.size() + occurrences * (replacement.size() - old.size()), "replace's result");
  std::string out;
  size_t pos = 0;
  for (size_t done = 0; done < occurrences; ++done) {
    const size_t at = s.find(old, pos);
    out.append(s, pos, at - pos);
    out += replacement;
    pos = at + old.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::vector<std::string> python_split(const std::string& s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) throw EvalError("empty separator");
    size_t pos = 0;
    for (size_t at = s.find(*sep); at != std::string::npos && (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit);
         at = s.find(*sep, pos)) {
      parts.push_back(s.substr(pos, at - pos));
      pos = at + sep->size();
    }
    parts.push_back(s.substr(pos));
    return parts;
  }
  const std::vector<std::string_view> cps = code_points(s);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && is_python_space(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {  // the rest, trailing spaces included
      parts.emplace_back(cps[i].data(), static_cast<size_t>(s.data() + s.size() - cps[i].data()));
      break;
    }
    std::string word;
    while (i < cps.size() && !is_python_space(cps[i])) word += cps[i++];
    parts.push_back(std::move(word));
  }
  return parts;
}

std::optional<int64_t> parse_python_int(const std::string& s, int64_t base) {
  std::string digits;
  for (const char c : trim_copy(s))
    if (c != '_') digits += c;
  if (digits.empty() || base < 2 || base > 36) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
  if (errno != 0 || *end != '\0' || end == digits.c_str()) return std::nullopt;
  if (base != 16 && (digits.find('x') != std::string::npos || digits.find('X') != std::string::npos)) return std::nullopt;
  return value;
}

std::optional<double> parse_python_float(const std::string& s) {
  std::string t = trim_copy(s);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.empty() || t.find('x') != std::string::npos) return std::nullopt;  // strtod reads hex, float() does not
  char* end = nullptr;
  const double value = std::strtod(t.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return value;
}

bool python_is(const std::string& s, const std::string& name) {
  if (s.empty()) return false;
  for (const std::string_view cp : code_points(s)) {
    const bool digit = cp.size() == 1 && std::isdigit(static_cast<unsigned char>(cp[0]));
    const bool alpha = is_cased(cp);
    if (name == "isdigit" && !digit) return false;
    if (name == "isspace" && !is_python_space(cp)) return false;
    if (name == "isalpha" && !alpha) return false;
    if (name == "isalnum" && !alpha && !digit) return false;
  }
  return true;
}

}  // namespace ladder::chat_template
