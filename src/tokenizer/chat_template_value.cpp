#include "chat_template_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace ladder::chat_template {
namespace {

// The methods Python's types have that templates call; `d.items` is the method even when the
// dict also holds a key "items", as in Python.
const std::set<std::string> kDictMethods = {"get", "items", "keys", "values"};
const std::set<std::string> kStringMethods = {
    "strip",  "lstrip", "rstrip",  "startswith", "endswith",    "split",        "upper",
    "lower",  "title",  "capitalize", "replace", "find",        "count",        "join",
    "removeprefix", "removesuffix", "isdigit", "isspace", "isalpha", "isalnum"};
const std::set<std::string> kListMethods = {"index", "count"};

}  // namespace

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

uint32_t decode_code_point(std::string_view c) {
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(c[i])); };
  switch (c.size()) {
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    case 4:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
    default: return byte(0);
  }
}

namespace {

uint32_t decode(std::string_view c) { return decode_code_point(c); }

// Characters str.isprintable() rejects (control, format, separators other than ' '), which
// repr() escapes. Covers the common ones, not all of Unicode's Cf/Cn.
bool non_printable(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) || c == 0x3000 || c == 0xFEFF;
}

void append_hex(std::string& out, const char* prefix, uint32_t c, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, c);
  out += prefix;
  out += buf;
}

std::string python_repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const std::string_view cp : code_points(s)) {
    const uint32_t c = decode(cp);
    if (c == static_cast<uint32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (non_printable(c)) {
      if (c < 0x100)
        append_hex(out, "\\x", c, 2);
      else
        append_hex(out, "\\u", c, 4);
    } else {
      out += cp;
    }
  }
  out += quote;
  return out;
}

void dump_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out += '"';
  for (const std::string_view cp : code_points(s)) {
    const uint32_t c = decode(cp);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          append_hex(out, "\\u", c, 4);
        } else if (ensure_ascii && c >= 0x80) {
          if (c >= 0x10000) {  // json.dumps writes astral characters as surrogate pairs
            append_hex(out, "\\u", 0xD800 + ((c - 0x10000) >> 10), 4);
            append_hex(out, "\\u", 0xDC00 + ((c - 0x10000) & 0x3FF), 4);
          } else {
            append_hex(out, "\\u", c, 4);
          }
        } else {
          out += cp;
        }
    }
  }
  out += '"';
}

void dump(const Json& v, const JsonDumpOptions& o, bool sort_keys, int level, std::string& out) {
  check_size(out.size(), "tojson's output");
  const auto newline = [&](int depth) {
    if (!o.indented) return;
    out += '\n';
    for (int i = 0; i < depth; ++i) out += o.indent;
  };
  switch (v.type()) {
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isnan(d))
        out += "NaN";
      else if (std::isinf(d))
        out += d > 0 ? "Infinity" : "-Infinity";
      else
        out += python_float(d);
      return;
    }
    case Json::value_t::string: dump_string(v.get_ref<const std::string&>(), o.ensure_ascii, out); return;
    case Json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      newline(level + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) {
          out += o.item_separator;
          newline(level + 1);
        }
        dump(v[i], o, sort_keys, level + 1, out);
      }
      newline(level);
      out += ']';
      return;
    }
    case Json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::string*> keys;
      for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(&it.key());
      if (sort_keys) std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
      out += '{';
      newline(level + 1);
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) {
          out += o.item_separator;
          newline(level + 1);
        }
        dump_string(*keys[i], o.ensure_ascii, out);
        out += o.key_separator;
        dump(v.at(*keys[i]), o, sort_keys, level + 1, out);
      }
      newline(level);
      out += '}';
      return;
    }
    case Json::value_t::binary: throw EvalError("Object of type Undefined is not JSON serializable");
    default: out += v.dump();  // null, true, false, integers: the same in JSON and Python
  }
}

Value child(const Value& parent, const Json& element) {
  if (element.is_binary()) return Value::undefined("an undefined value stored in a " + type_name(parent));
  return Value::alias(std::shared_ptr<const Json>(parent.json, &element));
}

Value missing_attribute(const Value& value, const std::string& name) {
  return Value::undefined("'" + type_name(value) + " object' has no attribute '" + name + "'");
}

}  // namespace

void check_size(size_t bytes, const char* what) {
  if (bytes > kMaxBytes)
    throw EvalError(std::string(what) + " grew past " + std::to_string(kMaxBytes >> 20) + " MiB");
}

Value Value::of(Json value) { return alias(std::make_shared<const Json>(std::move(value))); }

Value Value::alias(std::shared_ptr<const Json> value) {
  Value v;
  v.kind = Kind::kJson;
  v.json = std::move(value);
  return v;
}

Value Value::function(std::string name) {
  Value v;
  v.kind = Kind::kFunction;
  v.name = std::move(name);
  return v;
}

Value Value::method(Value receiver, std::string name) {
  Value v;
  v.kind = Kind::kMethod;
  v.receiver = std::make_shared<const Value>(std::move(receiver));
  v.name = std::move(name);
  return v;
}

Value* Namespace::find(const std::string& key) {
  for (auto& [name, value] : attributes)
    if (name == key) return &value;
  return nullptr;
}

std::string type_name(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNamespace: return "Namespace";
    case Value::Kind::kLoop: return "LoopContext";
    case Value::Kind::kFunction: return "function";
    case Value::Kind::kMethod: return "builtin_function_or_method";
    case Value::Kind::kJson: break;
  }
  switch (value.json->type()) {
    case Json::value_t::null: return "NoneType";
    case Json::value_t::boolean: return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "int";
    case Json::value_t::number_float: return "float";
    case Json::value_t::string: return "str";
    case Json::value_t::array: return "list";
    case Json::value_t::object: return "dict";
    default: return "object";
  }
}

bool is_number(const Json& v) { return v.is_number() || v.is_boolean(); }
bool is_integral(const Json& v) { return v.is_number_integer() || v.is_boolean(); }

int64_t as_int(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_number_unsigned()) return static_cast<int64_t>(v.get<uint64_t>());
  return v.get<int64_t>();
}

double as_double(const Json& v) {
  if (v.is_number_float()) return v.get<double>();
  return static_cast<double>(as_int(v));
}

bool truthy(const Value& value) {
  if (value.is_undefined()) return false;
  if (!value.is_json()) return true;
  const Json& v = *value.json;
  switch (v.type()) {
    case Json::value_t::null: return false;
    case Json::value_t::boolean: return v.get<bool>();
    case Json::value_t::number_float: return v.get<double>() != 0.0;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return as_int(v) != 0;
    case Json::value_t::string: return !v.get_ref<const std::string&>().empty();  // json::empty() is false for strings
    case Json::value_t::array:
    case Json::value_t::object: return !v.empty();
    default: return true;
  }
}

std::string python_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest digits that round-trip (what repr() picks), laid out the way repr() lays them.
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific).ptr;
  const std::string text(buf, end);
  const size_t e = text.find('e');
  std::string digits;
  bool negative = false;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] == '-')
      negative = true;
    else if (text[i] != '.')
      digits += text[i];
  }
  const int exponent = std::stoi(text.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
  }
  if (exponent < 0) return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  const size_t integer_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= integer_digits) return out + digits + std::string(integer_digits - digits.size(), '0') + ".0";
  return out + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

std::string repr(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return python_repr_string(v.get_ref<const std::string&>());
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ", ";
        out += repr(v[i]);
        check_size(out.size(), "a printed list");
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += python_repr_string(it.key()) + ": " + repr(it.value());
        check_size(out.size(), "a printed dict");
      }
      return out + "}";
    }
    case Json::value_t::null: return "None";
    case Json::value_t::binary: return "Undefined";
    case Json::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case Json::value_t::number_float: return python_float(v.get<double>());
    default: return v.dump();
  }
}

std::string to_str(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kJson: return value.json->is_string() ? value.str() : repr(*value.json);
    case Value::Kind::kNamespace: {
      std::string out = "<Namespace {";
      for (size_t i = 0; i < value.ns->attributes.size(); ++i) {
        const auto& [name, attribute] = value.ns->attributes[i];
        if (i > 0) out += ", ";
        out += python_repr_string(name) + ": " + (attribute.is_json() ? repr(*attribute.json) : to_str(attribute));
      }
      return out + "}>";
    }
    case Value::Kind::kLoop:
      return "<LoopContext " + std::to_string(value.loop->index0 + 1) + "/" + std::to_string(value.loop->items->size()) + ">";
    case Value::Kind::kFunction:
    case Value::Kind::kMethod: return "<function " + value.name + ">";
  }
  return "";
}

namespace {

bool json_equals(const Json& a, const Json& b) {
  if (is_number(a) && is_number(b)) {
    if (is_integral(a) && is_integral(b)) return as_int(a) == as_int(b);
    return as_double(a) == as_double(b);
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!json_equals(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      const auto other = b.find(it.key());
      if (other == b.end() || !json_equals(it.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

bool json_less(const Json& a, const Json& b, const Value& va, const Value& vb) {
  if (is_number(a) && is_number(b)) {
    if (is_integral(a) && is_integral(b)) return as_int(a) < as_int(b);
    return as_double(a) < as_double(b);
  }
  if (a.is_string() && b.is_string()) return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
      if (!json_equals(a[i], b[i])) return json_less(a[i], b[i], va, vb);
    return a.size() < b.size();
  }
  throw EvalError("'<' not supported between instances of '" + type_name(va) + "' and '" + type_name(vb) + "'");
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_json() && b.is_json()) return json_equals(*a.json, *b.json);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined: return true;
    case Value::Kind::kNamespace: return a.ns == b.ns;
    case Value::Kind::kLoop: return a.loop == b.loop;
    default: return a.name == b.name;
  }
}

bool less(const Value& a, const Value& b) {
  if (a.is_undefined() || b.is_undefined()) throw EvalError(a.is_undefined() ? a.name : b.name);
  if (!a.is_json() || !b.is_json())
    throw EvalError("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
  return json_less(*a.json, *b.json, a, b);
}

std::string json_dumps(const Json& value, const JsonDumpOptions& options, bool sort_keys) {
  std::string out;
  dump(value, options, sort_keys, 0, out);
  return out;
}

Value get_attribute(const Value& value, const std::string& name) {
  switch (value.kind) {
    case Value::Kind::kUndefined: throw EvalError(value.name);
    case Value::Kind::kNamespace: {
      if (Value* found = value.ns->find(name)) return *found;
      return missing_attribute(value, name);
    }
    case Value::Kind::kLoop: {
      const LoopInfo& loop = *value.loop;
      const int64_t length = static_cast<int64_t>(loop.items->size());
      if (name == "index") return Value::of(loop.index0 + 1);
      if (name == "index0") return Value::of(loop.index0);
      if (name == "revindex") return Value::of(length - loop.index0);
      if (name == "revindex0") return Value::of(length - loop.index0 - 1);
      if (name == "first") return Value::of(loop.index0 == 0);
      if (name == "last") return Value::of(loop.index0 == length - 1);
      if (name == "length") return Value::of(length);
      if (name == "depth") return Value::of(1);
      if (name == "depth0") return Value::of(0);
      if (name == "previtem")
        return loop.index0 > 0 ? (*loop.items)[loop.index0 - 1] : Value::undefined("there is no previous item");
      if (name == "nextitem")
        return loop.index0 + 1 < length ? (*loop.items)[loop.index0 + 1] : Value::undefined("there is no next item");
      if (name == "cycle") return Value::method(value, name);
      return missing_attribute(value, name);
    }
    case Value::Kind::kJson: break;
    default: return missing_attribute(value, name);
  }
  const Json& v = *value.json;
  if (v.is_object()) {
    if (kDictMethods.count(name)) return Value::method(value, name);
    const auto found = v.find(name);
    if (found != v.end()) return child(value, *found);
  } else if (v.is_string()) {
    if (kStringMethods.count(name)) return Value::method(value, name);
  } else if (v.is_array()) {
    if (kListMethods.count(name)) return Value::method(value, name);
  }
  return missing_attribute(value, name);
}

Value get_item(const Value& value, const Value& key) {
  if (value.is_undefined()) throw EvalError(value.name);
  if (value.is_json() && key.is_json()) {
    const Json& v = *value.json;
    const Json& k = *key.json;
    if (v.is_object() && k.is_string()) {
      const auto found = v.find(k.get_ref<const std::string&>());
      if (found != v.end()) return child(value, *found);
    } else if ((v.is_array() || v.is_string()) && is_integral(k)) {
      int64_t index = as_int(k);
      if (v.is_array()) {
        const int64_t size = static_cast<int64_t>(v.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size) return child(value, v[static_cast<size_t>(index)]);
      } else {
        const std::vector<std::string_view> chars = code_points(v.get_ref<const std::string&>());
        const int64_t size = static_cast<int64_t>(chars.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size) return Value::of(std::string(chars[static_cast<size_t>(index)]));
      }
      return Value::undefined(type_name(value) + " index out of range");
    }
  }
  // Jinja falls back from a[b] to a.b for string keys (so d['items'] finds the method too).
  if (key.is_string()) return get_attribute(value, key.str());
  return Value::undefined("'" + type_name(value) + " object' has no item " + to_str(key));
}

std::vector<Value> iterate(const Value& value) {
  std::vector<Value> items;
  if (value.is_undefined()) return items;
  if (!value.is_json()) throw EvalError("'" + type_name(value) + "' object is not iterable");
  const Json& v = *value.json;
  if (v.is_array()) {
    items.reserve(v.size());
    for (const Json& element : v) items.push_back(child(value, element));
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) items.push_back(Value::of(it.key()));
  } else if (v.is_string()) {
    for (const std::string_view c : code_points(v.get_ref<const std::string&>())) items.push_back(Value::of(std::string(c)));
  } else {
    throw EvalError("'" + type_name(value) + "' object is not iterable");
  }
  return items;
}

std::vector<std::string_view> code_points(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    length = std::min(length, text.size() - i);
    out.push_back(text.substr(i, length));
    i += length;
  }
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (const char c : text) count += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return count;
}

bool is_python_space(std::string_view cp) {
  const uint32_t c = decode(cp);
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string strip(std::string_view text, bool left, bool right, const std::string* chars) {
  const std::vector<std::string_view> cps = code_points(text);
  std::vector<std::string_view> strip_set;
  if (chars) strip_set = code_points(*chars);
  const auto strippable = [&](std::string_view cp) {
    if (!chars) return is_python_space(cp);
    return std::find(strip_set.begin(), strip_set.end(), cp) != strip_set.end();
  };
  size_t begin = 0;
  size_t end = cps.size();
  if (left)
    while (begin < end && strippable(cps[begin])) ++begin;
  if (right)
    while (end > begin && strippable(cps[end - 1])) --end;
  if (begin == end) return "";
  const char* first = cps[begin].data();
  const char* last = cps[end - 1].data() + cps[end - 1].size();
  return std::string(first, last);
}

std::vector<int64_t> slice_indices(int64_t length, const int64_t* start_in, const int64_t* stop_in,
                                   const int64_t* step_in) {
  const int64_t step = step_in ? *step_in : 1;
  if (step == 0) throw EvalError("slice step cannot be zero");
  const int64_t lower = step > 0 ? 0 : -1;
  const int64_t upper = step > 0 ? length : length - 1;
  const auto clamp = [&](const int64_t* given, int64_t fallback) {
    if (!given) return fallback;
    int64_t i = *given;
    if (i < 0) {
      i = i < -length ? lower : i + length;  // written so that INT64_MIN cannot overflow
      return std::max(i, lower);
    }
    return std::min(i, upper);
  };
  const int64_t start = clamp(start_in, step > 0 ? lower : upper);
  const int64_t stop = clamp(stop_in, step > 0 ? upper : lower);
  std::vector<int64_t> indices;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    indices.push_back(i);
    if (__builtin_add_overflow(i, step, &i)) break;
  }
  return indices;
}

}  // namespace ladder::chat_template
