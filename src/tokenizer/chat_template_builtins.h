#pragma once
// The filters, tests, global functions and Python methods chat templates call, with the
// semantics of Jinja2's (jinja2/filters.py, jinja2/tests.py) and transformers' additions
// (raise_exception, tojson, strftime_now). Failures are EvalErrors; the renderer adds the line.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "chat_template_value.h"

namespace ladder::chat_template {

struct Arguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Python's parameter binding: positionals first, then keywords by name.
class Params {
 public:
  Params(const std::string& function, const Arguments& args, std::vector<const char*> names)
      : function_(function), values_(names.size(), nullptr) {
    if (args.positional.size() > names.size())
      throw EvalError(function + "() takes at most " + std::to_string(names.size()) + " arguments (" +
                      std::to_string(args.positional.size()) + " given)");
    for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
    for (const auto& keyword : args.keywords) {
      // Not a structured binding: clang before 16 cannot capture one in a lambda (C++20).
      const std::string& name = keyword.first;
      const auto& value = keyword.second;
      const auto it = std::find_if(names.begin(), names.end(), [&](const char* n) { return name == n; });
      if (it == names.end()) throw EvalError(function + "() got an unexpected keyword argument '" + name + "'");
      const size_t index = static_cast<size_t>(it - names.begin());
      if (values_[index]) throw EvalError(function + "() got multiple values for argument '" + name + "'");
      values_[index] = &value;
    }
  }
  // The argument as given (none included), or nullptr.
  const Value* given(size_t index) const { return values_[index]; }
  // The argument, or nullptr when it was not given (or given as none).
  const Value* get(size_t index) const {
    const Value* v = values_[index];
    return v && !v->is_none() ? v : nullptr;
  }
  const Value& required(size_t index, const char* name) const {
    if (!values_[index]) throw EvalError(function_ + "() missing required argument '" + name + "'");
    return *values_[index];
  }
  int64_t integer(size_t index, const char* name, int64_t fallback) const {
    const Value* v = get(index);
    if (!v) return fallback;
    if (!v->is_json() || !is_integral(*v->json))
      throw EvalError(function_ + "(): '" + name + "' must be an integer, not '" + type_name(*v) + "'");
    return as_int(*v->json);
  }
  const std::string* string(size_t index, const char* name) const {
    const Value* v = get(index);
    if (!v) return nullptr;
    if (!v->is_string()) throw EvalError(function_ + "(): '" + name + "' must be a string, not '" + type_name(*v) + "'");
    return &v->str();
  }

 private:
  std::string function_;
  std::vector<const Value*> values_;
};

// A string argument; EvalError naming `what` otherwise (undefined: its own message).
const std::string& require_string(const Value& value, const std::string& what);
inline Value text(std::string s) { return Value::of(Json(std::move(s))); }

// The filters and tests there are; the parser refuses others, as Jinja2 does when it compiles.
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

Value apply_filter(const std::string& name, const Value& value, const Arguments& args);
bool apply_test(const std::string& name, const Value& value, const Arguments& args);

// A global function (range, namespace, raise_exception, strftime_now, dict), or undefined.
Value global_function(const std::string& name);

// callee(args): a global function or a bound method (str.strip, dict.get, loop.cycle, ...).
Value call(const Value& callee, const Arguments& args);

// Python's `item in container`.
bool contains(const Value& container, const Value& item);

// A value stored inside a list or dict (undefined as undefined_element()); namespaces and
// functions cannot be stored.
Json to_json(const Value& value);

}  // namespace ladder::chat_template
