// The global functions (range, namespace, dict, raise_exception, strftime_now) and the Python
// methods of str, dict, list and loop that templates call.
#include <cmath>
#include <ctime>
#include <map>

#include "chat_template_builtins.h"
#include "chat_template_strings.h"

namespace ladder::chat_template {
namespace {

// ---- global functions

Value g_range(const Arguments& a) {
  if (!a.keywords.empty()) throw EvalError("range() takes no keyword arguments");
  if (a.positional.empty() || a.positional.size() > 3) throw EvalError("range() takes 1 to 3 arguments");
  std::vector<int64_t> n;
  for (const Value& v : a.positional) {
    if (!v.is_json() || !is_integral(*v.json)) throw EvalError("range() needs integers, not '" + type_name(v) + "'");
    n.push_back(as_int(*v.json));
  }
  const int64_t start = n.size() == 1 ? 0 : n[0];
  const int64_t stop = n.size() == 1 ? n[0] : n[1];
  const int64_t step = n.size() == 3 ? n[2] : 1;
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  const long double count = step > 0 ? std::ceil((static_cast<long double>(stop) - start) / step)
                                     : std::ceil((static_cast<long double>(start) - stop) / -static_cast<long double>(step));
  if (count > static_cast<long double>(kMaxItems))
    throw EvalError("range() of " + std::to_string(static_cast<unsigned long long>(count)) + " numbers is over the limit of " +
                    std::to_string(kMaxItems));
  Json out = Json::array();
  for (int64_t i = 0; i < static_cast<int64_t>(std::max<long double>(count, 0)); ++i) out.push_back(start + i * step);
  return Value::of(std::move(out));
}

Value g_namespace(const Arguments& a) {
  auto ns = std::make_shared<Namespace>();
  const auto set = [&](const std::string& key, Value value) {
    if (Value* existing = ns->find(key))
      *existing = std::move(value);
    else
      ns->attributes.emplace_back(key, std::move(value));
  };
  for (const Value& mapping : a.positional) {
    if (!mapping.is_object()) throw EvalError("namespace() takes keyword arguments or mappings");
    for (auto it = mapping.json->begin(); it != mapping.json->end(); ++it) set(it.key(), Value::of(it.value()));
  }
  for (const auto& [key, value] : a.keywords) set(key, value);
  Value v;
  v.kind = Value::Kind::kNamespace;
  v.ns = std::move(ns);
  return v;
}

Value g_dict(const Arguments& a) {
  Json out = Json::object();
  for (const Value& mapping : a.positional) {
    if (!mapping.is_object()) throw EvalError("dict() takes keyword arguments or mappings");
    for (auto it = mapping.json->begin(); it != mapping.json->end(); ++it) out[it.key()] = it.value();
  }
  for (const auto& [key, value] : a.keywords) out[key] = to_json(value);
  return Value::of(std::move(out));
}

Value g_raise_exception(const Arguments& a) {
  const Params p("raise_exception", a, {"message"});
  throw TemplateRefused(to_str(p.required(0, "message")));
}

// transformers' strftime_now: datetime.now().strftime(format), in local time.
Value g_strftime_now(const Arguments& a) {
  const Params p("strftime_now", a, {"format"});
  const std::string& format = require_string(p.required(0, "format"), "strftime_now()'s format");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string out(format.size() * 4 + 64, '\0');
  const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &local);
  out.resize(n);
  return text(std::move(out));
}

using Function = Value (*)(const Arguments&);
const std::map<std::string, Function>& functions() {
  static const std::map<std::string, Function> kFunctions = {{"range", g_range},
                                                             {"namespace", g_namespace},
                                                             {"dict", g_dict},
                                                             {"raise_exception", g_raise_exception},
                                                             {"strftime_now", g_strftime_now}};
  return kFunctions;
}

// ---- methods

Value dict_method(const Value& self, const std::string& name, const Arguments& a) {
  const Json& d = *self.json;
  if (name == "get") {
    const Params p("get", a, {"key", "default"});
    const Value& key = p.required(0, "key");
    if (key.is_string()) {
      const auto found = d.find(key.str());
      if (found != d.end()) return get_item(self, key);
    }
    return p.get(1) ? *p.get(1) : Value::of(nullptr);
  }
  Params(name, a, {});
  Json out = Json::array();
  for (auto it = d.begin(); it != d.end(); ++it) {
    if (name == "keys")
      out.push_back(it.key());
    else if (name == "values")
      out.push_back(it.value());
    else
      out.push_back(Json::array({it.key(), it.value()}));
  }
  return Value::of(std::move(out));
}

Value list_method(const Value& self, const std::string& name, const Arguments& a) {
  const Params p(name, a, {"value"});
  const Value& wanted = p.required(0, "value");
  int64_t count = 0;
  const std::vector<Value> items = iterate(self);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!equals(items[i], wanted)) continue;
    if (name == "index") return Value::of(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") throw EvalError(to_str(wanted) + " is not in list");
  return Value::of(count);
}

Value string_method(const std::string& s, const std::string& name, const Arguments& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Params p(name, a, {"chars"});
    return text(strip(s, name != "rstrip", name != "lstrip", p.string(0, "chars")));
  }
  if (name == "startswith" || name == "endswith") {
    const Params p(name, a, {"prefix"});
    const Value& affix = p.required(0, "prefix");
    std::vector<std::string> options;
    if (affix.is_array()) {
      for (const Json& option : *affix.json) {
        if (!option.is_string()) throw EvalError(name + "() takes strings");
        options.push_back(option.get<std::string>());
      }
    } else {
      options.push_back(require_string(affix, name + "()'s argument"));
    }
    for (const std::string& o : options) {
      if (o.size() > s.size()) continue;
      if (name == "startswith" ? s.compare(0, o.size(), o) == 0 : s.compare(s.size() - o.size(), o.size(), o) == 0)
        return Value::of(true);
    }
    return Value::of(false);
  }
  if (name == "split") {
    const Params p(name, a, {"sep", "maxsplit"});
    Json out = Json::array();
    for (std::string& part : python_split(s, p.string(0, "sep"), p.integer(1, "maxsplit", -1))) out.push_back(std::move(part));
    return Value::of(std::move(out));
  }
  if (name == "replace") {
    const Params p(name, a, {"old", "new", "count"});
    return text(python_replace(s, require_string(p.required(0, "old"), "replace()'s old"),
                               require_string(p.required(1, "new"), "replace()'s new"), p.integer(2, "count", -1)));
  }
  if (name == "find" || name == "count") {
    const Params p(name, a, {"sub"});
    const std::string& sub = require_string(p.required(0, "sub"), name + "()'s argument");
    if (name == "find") {
      const size_t at = s.find(sub);
      return Value::of(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(code_point_count(s.substr(0, at))));
    }
    if (sub.empty()) return Value::of(static_cast<int64_t>(code_point_count(s) + 1));
    int64_t count = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++count;
    return Value::of(count);
  }
  if (name == "join") {
    const Params p(name, a, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate(p.required(0, "iterable"))) {
      if (!first) out += s;
      first = false;
      out += require_string(item, "join()'s items");
      check_size(out.size(), "join's result");
    }
    return text(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const Params p(name, a, {"affix"});
    const std::string& affix = require_string(p.required(0, "affix"), name + "()'s argument");
    if (affix.size() > s.size()) return text(s);
    if (name == "removeprefix") return text(s.compare(0, affix.size(), affix) == 0 ? s.substr(affix.size()) : s);
    return text(s.compare(s.size() - affix.size(), affix.size(), affix) == 0 ? s.substr(0, s.size() - affix.size()) : s);
  }
  Params(name, a, {});
  if (name == "upper") return text(python_upper(s));
  if (name == "lower") return text(python_lower(s));
  if (name == "title") return text(python_title(s));
  if (name == "capitalize") return text(python_capitalize(s));
  return Value::of(python_is(s, name));
}

}  // namespace

Value global_function(const std::string& name) {
  if (functions().count(name)) return Value::function(name);
  return Value::undefined("'" + name + "' is undefined");
}

Value call(const Value& callee, const Arguments& args) {
  switch (callee.kind) {
    case Value::Kind::kUndefined: throw EvalError(callee.name);
    case Value::Kind::kFunction: return functions().at(callee.name)(args);
    case Value::Kind::kMethod: {
      const Value& self = *callee.receiver;
      if (self.kind == Value::Kind::kLoop) {  // loop.cycle(a, b, ...)
        if (args.positional.empty()) throw EvalError("no items for cycling given");
        return args.positional[static_cast<size_t>(self.loop->index0) % args.positional.size()];
      }
      if (self.is_string()) return string_method(self.str(), callee.name, args);
      if (self.is_object()) return dict_method(self, callee.name, args);
      if (self.is_array()) return list_method(self, callee.name, args);
      break;
    }
    default: break;
  }
  throw EvalError("'" + type_name(callee) + "' object is not callable");
}

}  // namespace ladder::chat_template
