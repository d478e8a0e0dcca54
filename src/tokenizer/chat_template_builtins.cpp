// Jinja2's filters and tests (jinja2/filters.py, jinja2/tests.py), and transformers' tojson.
#include "chat_template_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "chat_template_strings.h"

namespace ladder::chat_template {
namespace {

// ---- filters

Value array_of(const std::vector<Value>& items) {
  Json out = Json::array();
  for (const Value& item : items) out.push_back(to_json(item));
  return Value::of(std::move(out));
}

// Jinja's attribute getter for map/selectattr/join: "a.b.0" walks a, b, then index 0.
Value attribute_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    current = get_item(current, digits ? Value::of(std::stoll(part)) : text(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

int64_t length_of(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_json()) {
    if (v.json->is_string()) return static_cast<int64_t>(code_point_count(v.str()));
    if (v.json->is_array() || v.json->is_object()) return static_cast<int64_t>(v.json->size());
  }
  throw EvalError("object of type '" + type_name(v) + "' has no len()");
}

Value f_length(const Value& v, const Arguments& a) {
  Params("length", a, {});
  return Value::of(length_of(v));
}

Value f_default(const Value& v, const Arguments& a) {
  const Params p("default", a, {"default_value", "boolean"});
  const bool boolean = p.get(1) && truthy(*p.get(1));
  if (v.is_undefined() || (boolean && !truthy(v))) return p.given(0) ? *p.given(0) : text("");
  return v;
}

Value f_tojson(const Value& v, const Arguments& a) {
  const Params p("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  if (!v.is_json()) throw EvalError("Object of type " + type_name(v) + " is not JSON serializable");
  JsonDumpOptions options;
  options.ensure_ascii = p.get(0) && truthy(*p.get(0));
  if (const Value* indent = p.get(1)) {
    options.indented = true;
    options.item_separator = ",";
    if (indent->is_string())
      options.indent = indent->str();
    else
      options.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(p.integer(1, "indent", 0), 0, 1000)), ' ');
  }
  if (const Value* separators = p.get(2)) {
    if (!separators->is_array() || separators->json->size() != 2 || !(*separators->json)[0].is_string() ||
        !(*separators->json)[1].is_string())
      throw EvalError("tojson(): separators must be a pair of strings");
    options.item_separator = (*separators->json)[0].get<std::string>();
    options.key_separator = (*separators->json)[1].get<std::string>();
  }
  return text(json_dumps(*v.json, options, p.get(3) && truthy(*p.get(3))));
}

Value f_join(const Value& v, const Arguments& a) {
  const Params p("join", a, {"d", "attribute"});
  const std::string separator = p.get(0) ? to_str(*p.get(0)) : "";
  const std::string* attribute = p.string(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += separator;
    first = false;
    out += to_str(attribute ? attribute_path(item, *attribute) : item);
    check_size(out.size(), "join's result");
  }
  return text(std::move(out));
}

Value f_first(const Value& v, const Arguments& a) {
  Params("first", a, {});
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(const Value& v, const Arguments& a) {
  Params("last", a, {});
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_list(const Value& v, const Arguments& a) {
  Params("list", a, {});
  return array_of(iterate(v));
}

Value f_string(const Value& v, const Arguments& a) {
  Params("string", a, {});
  return text(to_str(v));
}

Value f_trim(const Value& v, const Arguments& a) {
  const Params p("trim", a, {"chars"});
  return text(strip(to_str(v), true, true, p.string(0, "chars")));
}

Value f_upper(const Value& v, const Arguments& a) {
  Params("upper", a, {});
  return text(python_upper(to_str(v)));
}

Value f_lower(const Value& v, const Arguments& a) {
  Params("lower", a, {});
  return text(python_lower(to_str(v)));
}

Value f_capitalize(const Value& v, const Arguments& a) {
  Params("capitalize", a, {});
  return text(python_capitalize(to_str(v)));
}

Value f_title(const Value& v, const Arguments& a) {
  Params("title", a, {});
  return text(jinja_title(to_str(v)));
}

Value f_replace(const Value& v, const Arguments& a) {
  const Params p("replace", a, {"old", "new", "count"});
  return text(python_replace(to_str(v), to_str(p.required(0, "old")), to_str(p.required(1, "new")),
                             p.integer(2, "count", -1)));
}

Value f_int(const Value& v, const Arguments& a) {
  const Params p("int", a, {"default", "base"});
  const Value fallback = p.get(0) ? *p.get(0) : Value::of(0);
  if (v.is_undefined()) throw EvalError(v.name);
  if (!v.is_json()) return fallback;
  if (v.json->is_string()) {
    if (const auto parsed = parse_python_int(v.str(), p.integer(1, "base", 10))) return Value::of(*parsed);
    const auto number = parse_python_float(v.str());
    if (number && std::isfinite(*number) && std::fabs(*number) < 9.2e18) return Value::of(static_cast<int64_t>(*number));
    return fallback;
  }
  if (is_integral(*v.json)) return Value::of(as_int(*v.json));
  if (v.json->is_number_float()) {
    const double d = v.json->get<double>();
    return std::isfinite(d) && std::fabs(d) < 9.2e18 ? Value::of(static_cast<int64_t>(d)) : fallback;
  }
  return fallback;
}

Value f_float(const Value& v, const Arguments& a) {
  const Params p("float", a, {"default"});
  const Value fallback = p.get(0) ? *p.get(0) : Value::of(0.0);
  if (v.is_undefined()) throw EvalError(v.name);
  if (v.is_json() && is_number(*v.json)) return Value::of(as_double(*v.json));
  if (v.is_string()) {
    if (const auto number = parse_python_float(v.str())) return Value::of(*number);
  }
  return fallback;
}

Value f_abs(const Value& v, const Arguments& a) {
  Params("abs", a, {});
  if (v.is_undefined()) throw EvalError(v.name);
  if (!v.is_json() || !is_number(*v.json)) throw EvalError("bad operand type for abs(): '" + type_name(v) + "'");
  if (v.json->is_number_float()) return Value::of(std::fabs(v.json->get<double>()));
  const int64_t i = as_int(*v.json);
  if (i == INT64_MIN) throw EvalError("integer overflow in abs()");
  return Value::of(i < 0 ? -i : i);
}

Value f_items(const Value& v, const Arguments& a) {
  Params("items", a, {});
  if (v.is_undefined()) return Value::of(Json::array());
  if (!v.is_object()) throw EvalError("Can only get item pairs from a mapping.");
  Json out = Json::array();
  for (auto it = v.json->begin(); it != v.json->end(); ++it) out.push_back(Json::array({it.key(), it.value()}));
  return Value::of(std::move(out));
}

Value f_reverse(const Value& v, const Arguments& a) {
  Params("reverse", a, {});
  if (v.is_string()) {
    std::vector<std::string_view> chars = code_points(v.str());
    std::string out;
    for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
    return text(std::move(out));
  }
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  return array_of(items);
}

Value f_map(const Value& v, const Arguments& a) {
  std::vector<Value> out;
  if (a.positional.empty()) {
    const Params p("map", a, {"attribute", "default"});
    const std::string& attribute = require_string(p.required(0, "attribute"), "map()'s attribute");
    for (const Value& item : iterate(v)) {
      Value mapped = attribute_path(item, attribute);
      if (mapped.is_undefined() && p.get(1)) mapped = *p.get(1);
      out.push_back(std::move(mapped));
    }
  } else {
    const std::string& filter = require_string(a.positional[0], "map()'s filter name");
    Arguments rest{{a.positional.begin() + 1, a.positional.end()}, a.keywords};
    for (const Value& item : iterate(v)) out.push_back(apply_filter(filter, item, rest));
  }
  return array_of(out);
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...).
Value select_items(const Value& v, const Arguments& a, bool by_attribute, bool keep) {
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (a.positional.empty()) throw EvalError("selectattr() needs an attribute name");
    attribute = require_string(a.positional[next++], "the attribute name");
  }
  std::string test;
  if (next < a.positional.size()) test = require_string(a.positional[next++], "the test name");
  if (!test.empty() && !is_known_test(test)) throw EvalError("no test named '" + test + "'");
  const Arguments rest{{a.positional.begin() + static_cast<std::ptrdiff_t>(next), a.positional.end()}, a.keywords};
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    const bool passes = test.empty() ? truthy(subject) : apply_test(test, subject, rest);
    if (passes == keep) out.push_back(item);
  }
  return array_of(out);
}

Value f_select(const Value& v, const Arguments& a) { return select_items(v, a, false, true); }
Value f_reject(const Value& v, const Arguments& a) { return select_items(v, a, false, false); }
Value f_selectattr(const Value& v, const Arguments& a) { return select_items(v, a, true, true); }
Value f_rejectattr(const Value& v, const Arguments& a) { return select_items(v, a, true, false); }

using Filter = Value (*)(const Value&, const Arguments&);
const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> kFilters = {
      {"abs", f_abs},       {"capitalize", f_capitalize}, {"count", f_length},   {"d", f_default},
      {"default", f_default}, {"first", f_first},       {"float", f_float},     {"int", f_int},
      {"items", f_items},   {"join", f_join},             {"last", f_last},      {"length", f_length},
      {"list", f_list},     {"lower", f_lower},           {"map", f_map},        {"reject", f_reject},
      {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse}, {"safe", f_string},
      {"select", f_select}, {"selectattr", f_selectattr}, {"string", f_string},  {"title", f_title},
      {"tojson", f_tojson}, {"trim", f_trim},             {"upper", f_upper}};
  return kFilters;
}

// ---- tests

bool json_is(const Value& v, bool (Json::*kind)() const noexcept) { return v.is_json() && ((*v.json).*kind)(); }

const Value& test_argument(const std::string& name, const Arguments& a) {
  const Params p(name, a, {"other"});
  return p.required(0, "other");
}

bool parity(const Value& v, int64_t remainder) {
  if (v.is_undefined()) throw EvalError(v.name);
  if (!v.is_json() || !is_number(*v.json)) throw EvalError("odd/even need a number, not '" + type_name(v) + "'");
  if (v.json->is_number_float()) return std::fmod(std::fabs(v.json->get<double>()), 2.0) == static_cast<double>(remainder);
  const int64_t i = as_int(*v.json);
  return ((i % 2) + 2) % 2 == remainder;
}

// str.islower() / isupper(): some cased character, and none of the other case.
bool cased_only(const std::string& s, bool lower) {
  const std::string lowered = python_lower(s);
  const std::string uppered = python_upper(s);
  return lower ? lowered == s && uppered != s : uppered == s && lowered != s;
}

bool apply_named_test(const std::string& name, const Value& v, const Arguments& a) {
  static const char* const kTakesArgument[] = {"divisibleby", "eq", "equalto", "ne", "lt", "lessthan", "gt",
                                               "greaterthan", "le", "ge", "in", "sameas"};
  if (std::find(std::begin(kTakesArgument), std::end(kTakesArgument), name) == std::end(kTakesArgument))
    Params(name, a, {});  // refuses arguments, as Python would
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_json() && is_number(*v.json);
  if (name == "integer") return json_is(v, &Json::is_number_integer);
  if (name == "float") return json_is(v, &Json::is_number_float);
  if (name == "boolean") return json_is(v, &Json::is_boolean);
  if (name == "true") return json_is(v, &Json::is_boolean) && v.json->get<bool>();
  if (name == "false") return json_is(v, &Json::is_boolean) && !v.json->get<bool>();
  if (name == "mapping") return v.is_object();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
  if (name == "iterable")
    return v.is_undefined() || v.is_string() || v.is_array() || v.is_object() || v.kind == Value::Kind::kLoop;
  if (name == "callable") return v.kind == Value::Kind::kFunction || v.kind == Value::Kind::kMethod;
  if (name == "odd") return parity(v, 1);
  if (name == "even") return parity(v, 0);
  if (name == "lower" || name == "upper") return cased_only(to_str(v), name == "lower");
  if (name == "divisibleby") {  // value % num == 0, floats included
    const Value& n = test_argument(name, a);
    if (v.is_undefined()) throw EvalError(v.name);
    if (!v.is_json() || !n.is_json() || !is_number(*v.json) || !is_number(*n.json))
      throw EvalError("divisibleby needs numbers, not '" + type_name(v) + "' and '" + type_name(n) + "'");
    if (is_integral(*v.json) && is_integral(*n.json)) {
      if (as_int(*n.json) == 0) throw EvalError("integer division or modulo by zero");
      return as_int(*n.json) == -1 || as_int(*v.json) % as_int(*n.json) == 0;
    }
    if (as_double(*n.json) == 0.0) throw EvalError("float modulo");
    return std::fmod(as_double(*v.json), as_double(*n.json)) == 0.0;
  }
  const Value& other = test_argument(name, a);
  if (name == "eq" || name == "equalto") return equals(v, other);
  if (name == "ne") return !equals(v, other);
  if (name == "lt" || name == "lessthan") return less(v, other);
  if (name == "gt" || name == "greaterthan") return less(other, v);
  if (name == "le") return less(v, other) || equals(v, other);
  if (name == "ge") return less(other, v) || equals(v, other);
  if (name == "in") return contains(other, v);
  if (name == "sameas")  // identity: for none, booleans and numbers what Python's `is` gives
    return v.is_json() && other.is_json() && v.json->type() == other.json->type() && equals(v, other);
  throw EvalError("no test named '" + name + "'");
}

const char* const kTests[] = {"defined", "undefined", "none",   "string",    "number",  "integer",     "float",
                              "boolean", "true",      "false",  "mapping",   "sequence", "iterable",   "callable",
                              "odd",     "even",      "lower",  "upper",     "divisibleby", "eq",      "equalto",
                              "ne",      "lt",        "lessthan", "gt",      "greaterthan", "le",      "ge",
                              "in",      "sameas"};

}  // namespace

const std::string& require_string(const Value& v, const std::string& what) {
  if (v.is_undefined()) throw EvalError(v.name);
  if (!v.is_string()) throw EvalError(what + " must be a string, not '" + type_name(v) + "'");
  return v.str();
}

bool is_known_filter(const std::string& name) { return filters().count(name) > 0; }

bool is_known_test(const std::string& name) { return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests); }

Value apply_filter(const std::string& name, const Value& value, const Arguments& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) throw EvalError("no filter named '" + name + "'");
  return it->second(value, args);
}

bool apply_test(const std::string& name, const Value& value, const Arguments& args) {
  return apply_named_test(name, value, args);
}

bool contains(const Value& container, const Value& item) {
  if (container.is_undefined()) return false;
  if (container.is_json()) {
    const Json& c = *container.json;
    if (c.is_string()) {
      if (!item.is_string()) throw EvalError("'in <string>' requires string as left operand, not " + type_name(item));
      return c.get_ref<const std::string&>().find(item.str()) != std::string::npos;
    }
    if (c.is_object()) {
      if (item.is_array() || item.is_object()) throw EvalError("unhashable type: '" + type_name(item) + "'");
      return item.is_string() && c.contains(item.str());
    }
    if (c.is_array()) {
      for (const Value& element : iterate(container))
        if (equals(element, item)) return true;
      return false;
    }
  }
  throw EvalError("argument of type '" + type_name(container) + "' is not iterable");
}

Json to_json(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kJson: return *value.json;
    case Value::Kind::kUndefined: return undefined_element();
    default: throw EvalError("a " + type_name(value) + " cannot be stored in a list or dict");
  }
}

}  // namespace ladder::chat_template
