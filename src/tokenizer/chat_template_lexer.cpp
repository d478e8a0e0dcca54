// Jinja2's lexer (jinja2/lexer.py) as transformers configures it: trim_blocks (the first newline
// after a block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or
// comment tag on its own line are dropped), keep_trailing_newline off, and the `-`/`+` markers
// that strip or keep whitespace at one tag. Whitespace here is Python's (regex \s), as there.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "chat_template_syntax.h"
#include "ladder/error.h"

namespace ladder::chat_template {
namespace {

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  // keep_trailing_newline=False: Jinja drops one newline at the very end of the template.
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  Lexer(const std::string& source, const std::string& origin) : s_(normalize_newlines(source)), origin_(origin) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      const size_t start = next_tag(pos_);
      if (start == std::string::npos) {
        data(s_.substr(pos_), '\0', false);
        break;
      }
      const char type = s_[start + 1];
      size_t raw_body = 0;
      char raw_sign = '\0';
      if (type == '%' && raw_begin(start, raw_body, raw_sign)) {
        data(s_.substr(pos_, start - pos_), raw_sign, true);
        line_ += count_newlines(start, raw_body);
        pos_ = raw_body;
        line_starting_ = s_[pos_ - 1] == '\n';
        raw();
        continue;
      }
      size_t after = start + 2;
      char sign = '\0';
      if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
      data(s_.substr(pos_, start - pos_), sign, type != '{');
      pos_ = after;
      line_starting_ = false;
      if (type == '#')
        comment();
      else
        tag(type == '%');
    }
    Token end;
    end.line = line_;
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw FormatError(origin_ + ": line " + std::to_string(line) + ": " + message);
  }

  size_t next_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos && i + 1 < s_.size(); i = s_.find('{', i + 1))
      if (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#') return i;
    return std::string::npos;
  }

  int count_newlines(size_t from, size_t to) const {
    return static_cast<int>(std::count(s_.begin() + static_cast<std::ptrdiff_t>(from),
                                       s_.begin() + static_cast<std::ptrdiff_t>(to), '\n'));
  }

  bool starts_with(size_t at, const char* text) const { return s_.compare(at, std::char_traits<char>::length(text), text) == 0; }

  // Byte length of the Python whitespace character at `at`, 0 when there is none.
  size_t space_at(size_t at) const {
    if (at >= s_.size()) return 0;
    const std::vector<std::string_view> first = code_points(std::string_view(s_).substr(at, 4));
    return !first.empty() && is_python_space(first[0]) ? first[0].size() : 0;
  }

  void skip_spaces() {
    while (const size_t n = space_at(pos_)) {
      if (s_[pos_] == '\n') ++line_;
      pos_ += n;
    }
  }

  // Text before a tag, with that tag's whitespace control: `-` strips all whitespace before it;
  // otherwise lstrip_blocks (block and comment tags only) drops indentation when the tag starts
  // its line.
  void data(std::string text, char sign, bool lstrip) {
    const int newlines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    if (sign == '-') {
      text = strip(text, false, true, nullptr);
    } else if (sign != '+' && lstrip) {
      const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
      if ((line_start > 0 || line_starting_) && line_start < text.size()) {
        bool blank = true;
        for (const std::string_view c : code_points(std::string_view(text).substr(line_start))) blank = blank && is_python_space(c);
        if (blank) text.resize(line_start);
      }
    }
    if (!text.empty()) push(Token::Kind::kData, std::move(text));
    line_ += newlines;
  }

  void push(Token::Kind kind, std::string text) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    token.line = line_;
    tokens_.push_back(std::move(token));
  }

  // The end of a block or comment tag ("%}" or "#}"): `-` eats the whitespace after it, `+`
  // keeps it, otherwise trim_blocks eats one newline.
  void tag_end(char sign, size_t end_length) {
    pos_ += end_length;
    if (sign == '-') {
      skip_spaces();
    } else if (sign != '+' && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
    line_starting_ = s_[pos_ - 1] == '\n';
  }

  void comment() {
    const size_t close = s_.find("#}", pos_);
    if (close == std::string::npos) fail(line_, "missing end of comment tag");
    const char sign = close > pos_ && (s_[close - 1] == '-' || s_[close - 1] == '+') ? s_[close - 1] : '\0';
    line_ += count_newlines(pos_, close);
    pos_ = close;
    tag_end(sign, 2);
  }

  // {% raw %}: Jinja's rule has no trim_blocks newline after the opening tag.
  bool raw_begin(size_t start, size_t& body, char& sign) {
    size_t p = start + 2;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    const auto spaces = [&] {
      while (const size_t n = space_at(p)) p += n;
    };
    spaces();
    if (!starts_with(p, "raw")) return false;
    p += 3;
    spaces();
    if (starts_with(p, "-%}")) {
      p += 3;
      while (const size_t n = space_at(p)) p += n;
    } else if (starts_with(p, "%}")) {
      p += 2;
    } else {
      return false;
    }
    body = p;
    return true;
  }

  void raw() {
    for (size_t at = s_.find("{%", pos_); at != std::string::npos; at = s_.find("{%", at + 1)) {
      size_t p = at + 2;
      char sign = '\0';
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
      while (const size_t n = space_at(p)) p += n;
      if (!starts_with(p, "endraw")) continue;
      p += 6;
      while (const size_t n = space_at(p)) p += n;
      size_t end_length = 0;
      char end_sign = '\0';
      if (starts_with(p, "+%}") || starts_with(p, "-%}")) {
        end_sign = s_[p];
        end_length = 3;
      } else if (starts_with(p, "%}")) {
        end_length = 2;
      } else {
        continue;
      }
      data(s_.substr(pos_, at - pos_), sign, true);
      line_ += count_newlines(at, p);
      pos_ = p;
      tag_end(end_sign, end_length);
      return;
    }
    fail(line_, "missing end of raw directive ({% endraw %})");
  }

  void tag(bool block) {
    const int open_line = line_;
    push(block ? Token::Kind::kBlockBegin : Token::Kind::kVariableBegin, "");
    std::vector<char> closers;
    while (true) {
      if (pos_ >= s_.size())
        fail(open_line, std::string("unexpected end of template: the tag opened here is never closed with '") +
                            (block ? "%}" : "}}") + "'");
      if (closers.empty() && end_of_tag(block)) return;
      if (const size_t n = space_at(pos_)) {
        if (s_[pos_] == '\n') ++line_;
        pos_ += n;
      } else if (is_digit(s_[pos_])) {
        number();
      } else if (is_name_start(s_[pos_])) {
        const size_t start = pos_;
        while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
        push(Token::Kind::kName, s_.substr(start, pos_ - start));
      } else if (s_[pos_] == '\'' || s_[pos_] == '"') {
        string();
      } else {
        op(closers);
      }
    }
  }

  bool end_of_tag(bool block) {
    const Token::Kind kind = block ? Token::Kind::kBlockEnd : Token::Kind::kVariableEnd;
    if (block) {
      if (starts_with(pos_, "+%}") || starts_with(pos_, "-%}")) {
        const char sign = s_[pos_];
        push(kind, "");
        tag_end(sign, 3);
        return true;
      }
      if (starts_with(pos_, "%}")) {
        push(kind, "");
        tag_end('\0', 2);
        return true;
      }
      return false;
    }
    // Variable tags: `-}}` strips what follows; trim_blocks does not apply to them.
    if (starts_with(pos_, "-}}")) {
      push(kind, "");
      pos_ += 3;
      skip_spaces();
    } else if (starts_with(pos_, "}}")) {
      push(kind, "");
      pos_ += 2;
    } else {
      return false;
    }
    line_starting_ = s_[pos_ - 1] == '\n';
    return true;
  }

  size_t digits_end(size_t p) const {  // (\d+_)*\d+ from p, or npos
    if (p >= s_.size() || !is_digit(s_[p])) return std::string::npos;
    while (true) {
      while (p < s_.size() && is_digit(s_[p])) ++p;
      if (p + 1 < s_.size() && s_[p] == '_' && is_digit(s_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  size_t exponent_end(size_t p) const {
    if (p >= s_.size() || (s_[p] != 'e' && s_[p] != 'E')) return std::string::npos;
    ++p;
    if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
    return digits_end(p);
  }

  void number() {
    const size_t start = pos_;
    const auto without_underscores = [&](size_t end) {
      std::string text;
      for (size_t i = start; i < end; ++i)
        if (s_[i] != '_') text += s_[i];
      return text;
    };
    size_t end = digits_end(start);
    // Jinja's float rule does not start right after a '.', so `foo.0.1` is foo[0][1].
    const bool after_dot = start > 0 && s_[start - 1] == '.';
    if (!after_dot) {
      size_t float_end = std::string::npos;
      if (end < s_.size() && s_[end] == '.' && end + 1 < s_.size() && is_digit(s_[end + 1])) {
        float_end = digits_end(end + 1);
        if (const size_t e = exponent_end(float_end); e != std::string::npos) float_end = e;
      } else if (const size_t e = exponent_end(end); e != std::string::npos) {
        float_end = e;
      }
      if (float_end != std::string::npos) {
        push(Token::Kind::kFloat, s_.substr(start, float_end - start));
        tokens_.back().number = std::strtod(without_underscores(float_end).c_str(), nullptr);
        pos_ = float_end;
        return;
      }
    }
    if (s_[start] == '0') {  // Jinja's integers: 0, 00, ... but never 0123
      end = start + 1;
      while (end < s_.size() && (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0'))) ++end;
    }
    const std::string text = without_underscores(end);
    errno = 0;
    char* parsed_end = nullptr;
    const long long value = std::strtoll(text.c_str(), &parsed_end, 10);
    if (errno == ERANGE) fail(line_, "the integer " + text + " is too large");
    push(Token::Kind::kInteger, s_.substr(start, end - start));
    tokens_.back().integer = value;
    pos_ = end;
  }

  void string() {
    const char quote = s_[pos_];
    const int start_line = line_;
    size_t p = pos_ + 1;
    while (p < s_.size() && s_[p] != quote) p += s_[p] == '\\' ? 2 : 1;
    if (p >= s_.size()) fail(start_line, "unterminated string literal");
    const std::string raw = s_.substr(pos_ + 1, p - pos_ - 1);
    push(Token::Kind::kString, unescape(raw, start_line));
    line_ += static_cast<int>(std::count(raw.begin(), raw.end(), '\n'));
    pos_ = p + 1;
  }

  // Python's unicode-escape decoding, which Jinja applies to string literals.
  std::string unescape(const std::string& raw, int line) const {
    std::string out;
    const auto hex = [&](size_t& i, int digits) {
      if (i + static_cast<size_t>(digits) > raw.size()) fail(line, "truncated \\x, \\u or \\U escape in a string");
      uint32_t value = 0;
      for (int k = 0; k < digits; ++k) {
        const char c = raw[i++];
        if (!std::isxdigit(static_cast<unsigned char>(c))) fail(line, "truncated \\x, \\u or \\U escape in a string");
        const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
        value = value * 16 + static_cast<uint32_t>(digit);
      }
      return value;
    };
    for (size_t i = 0; i < raw.size();) {
      if (raw[i] != '\\' || i + 1 >= raw.size()) {
        out += raw[i++];
        continue;
      }
      const char e = raw[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;
        case '\\':
        case '\'':
        case '"': out += e; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': append_utf8(out, hex(i, 2)); break;
        case 'u':
        case 'U': {
          uint32_t c = hex(i, e == 'u' ? 4 : 8);
          if (c >= 0xD800 && c < 0xDC00 && i + 1 < raw.size() && raw[i] == '\\' && raw[i + 1] == 'u') {
            size_t j = i + 2;
            const uint32_t low = hex(j, 4);
            if (low >= 0xDC00 && low < 0xE000) {
              c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
              i = j;
            }
          }
          if (c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) fail(line, "a string escapes an invalid character");
          append_utf8(out, c);
          break;
        }
        case 'N': fail(line, "\\N{...} escapes are not supported in chat templates");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t c = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++k)
              c = c * 8 + static_cast<uint32_t>(raw[i++] - '0');
            append_utf8(out, c);
          } else {  // Python keeps unknown escapes as written
            out += '\\';
            out += e;
          }
      }
    }
    return out;
  }

  void op(std::vector<char>& closers) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* two : kTwo) {
      if (starts_with(pos_, two)) {
        push(Token::Kind::kOperator, two);
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    if (std::string("+-/*%~[](){}<>=.:|,;").find(c) == std::string::npos)
      fail(line_, std::string("unexpected character '") + c + "' in a tag");
    if (c == '(' || c == '[' || c == '{') closers.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (closers.empty()) fail(line_, std::string("unexpected '") + c + "'");
      if (closers.back() != c) fail(line_, std::string("unexpected '") + c + "', expected '" + closers.back() + "'");
      closers.pop_back();
    }
    push(Token::Kind::kOperator, std::string(1, c));
    ++pos_;
  }

  const std::string s_;
  const std::string& origin_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // Jinja's: the last thing matched ended with a newline
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> lex_template(const std::string& source, const std::string& origin) {
  return Lexer(source, origin).run();
}

}  // namespace ladder::chat_template
