#pragma once
// What a chat-template expression evaluates to. Templates are written against Python's
// semantics (Jinja2 runs them in Python), so printing, truthiness, equality, ordering and
// string handling here follow Python's str/repr/==/< and json.dumps, not C++'s.
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ladder::chat_template {

// Python dicts keep insertion order and tojson shows it, so objects are ordered. An undefined
// value stored in a list or dict (Python keeps the Undefined object there) is an empty binary
// value, which no JSON input can hold.
using Json = nlohmann::ordered_json;
inline Json undefined_element() { return Json::binary({}); }

// An error while rendering, without position: the renderer adds the template's origin and line.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// raise_exception("...") in a template; the renderer turns it into the user's error.
class TemplateRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Caps that keep a hostile template from exhausting memory or time.
constexpr size_t kMaxBytes = size_t{64} << 20;  // output, and any string or list built
constexpr size_t kMaxItems = 1'000'000;         // range(), repeated lists
void check_size(size_t bytes, const char* what);

struct Namespace;
struct LoopInfo;

struct Value {
  enum class Kind { kUndefined, kJson, kNamespace, kLoop, kFunction, kMethod };
  Kind kind = Kind::kUndefined;
  // kJson: the value. Sub-values alias their parent (shared_ptr aliasing), so reading
  // messages[i]['content'] copies nothing.
  std::shared_ptr<const Json> json;
  std::shared_ptr<Namespace> ns;           // kNamespace (mutable: `set ns.x = ...`)
  std::shared_ptr<LoopInfo> loop;          // kLoop (its index moves on, as Jinja's does)
  std::shared_ptr<const Value> receiver;   // kMethod: the object whose method this is
  std::string name;  // kUndefined: what was missing; kFunction, kMethod: which one

  static Value undefined(std::string hint) {
    Value v;
    v.name = std::move(hint);
    return v;
  }
  static Value of(Json value);
  static Value alias(std::shared_ptr<const Json> value);
  static Value function(std::string name);
  static Value method(Value receiver, std::string name);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_json() const { return kind == Kind::kJson; }
  bool is_string() const { return is_json() && json->is_string(); }
  bool is_object() const { return is_json() && json->is_object(); }
  bool is_array() const { return is_json() && json->is_array(); }
  bool is_none() const { return is_json() && json->is_null(); }
  const std::string& str() const { return json->get_ref<const std::string&>(); }
};

struct Namespace {
  std::vector<std::pair<std::string, Value>> attributes;  // in assignment order, as Python shows it
  Value* find(const std::string& key);
};

struct LoopInfo {
  int64_t index0 = 0;
  std::shared_ptr<const std::vector<Value>> items;
};

// Python's type() name, for error messages ("'<' not supported between 'int' and 'str'").
std::string type_name(const Value& value);

// Python semantics.
bool truthy(const Value& value);
std::string to_str(const Value& value);  // str(); undefined prints as "" (Jinja's Undefined)
std::string repr(const Json& value);
std::string python_float(double value);  // float.__repr__
bool equals(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);  // EvalError when Python's < would raise TypeError

// Numbers: Python's bool is an int.
bool is_number(const Json& value);
bool is_integral(const Json& value);  // int or bool
int64_t as_int(const Json& value);
double as_double(const Json& value);

// json.dumps(value, ensure_ascii, indent, separators, sort_keys): transformers' tojson filter.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool indented = false;
  std::string indent;  // when indented
  std::string item_separator = ", ";
  std::string key_separator = ": ";
};
std::string json_dumps(const Json& value, const JsonDumpOptions& options, bool sort_keys);

// Jinja's attribute (a.b) and subscript (a[b]) lookup: a missing key or index gives undefined,
// looking into undefined is an EvalError.
Value get_attribute(const Value& value, const std::string& name);
Value get_item(const Value& value, const Value& key);

// The items a `for` visits: list items, dict keys, string characters; undefined is empty.
std::vector<Value> iterate(const Value& value);

// UTF-8 as Python's str sees it: code points.
std::vector<std::string_view> code_points(std::string_view text);
uint32_t decode_code_point(std::string_view code_point);
void append_utf8(std::string& out, uint32_t code_point);
size_t code_point_count(std::string_view text);
bool is_python_space(std::string_view code_point);  // str.isspace(), regex \s
std::string strip(std::string_view text, bool left, bool right, const std::string* chars);

// Python's `sequence[start:stop:step]` indices, None given as nullptr.
std::vector<int64_t> slice_indices(int64_t length, const int64_t* start, const int64_t* stop,
                                   const int64_t* step);

}  // namespace ladder::chat_template
