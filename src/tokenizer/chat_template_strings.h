#pragma once
// Python's str methods and Jinja2's string filters that chat templates use. Case mapping covers
// ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic; other characters keep their case.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ladder::chat_template {

std::string python_upper(const std::string& s);  // str.upper() and the upper filter
std::string python_lower(const std::string& s);
std::string python_capitalize(const std::string& s);  // str.capitalize() and the capitalize filter
std::string python_title(const std::string& s);       // str.title()
std::string jinja_title(const std::string& s);        // the title filter, which splits words differently

// str.replace(old, new, count), count < 0 for all; EvalError when the result grows too large.
std::string python_replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count);
// str.split(sep, maxsplit); sep null splits on runs of whitespace.
std::vector<std::string> python_split(const std::string& s, const std::string* sep, int64_t maxsplit);

// int(s, base) and float(s): nullopt where Python raises ValueError.
std::optional<int64_t> parse_python_int(const std::string& s, int64_t base);
std::optional<double> parse_python_float(const std::string& s);

// str.isdigit(), isspace(), isalpha(), isalnum() by name.
bool python_is(const std::string& s, const std::string& name);

}  // namespace ladder::chat_template
