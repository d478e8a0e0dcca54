// Runs a parsed chat template. Scoping follows Jinja2: a for loop's body gets a fresh scope on
// every iteration (so `set` inside a loop does not survive it, hence namespace()), `if` has no
// scope of its own, and names fall back to the variables, then to the global functions.
#include <cmath>

#include "chat_template_builtins.h"
#include "chat_template_syntax.h"
#include "ladder/error.h"

namespace ladder::chat_template {
namespace {

// Statements and expressions one render may evaluate: plenty for any real conversation, and
// a bound on how long a hostile template (nested loops over range()) can run.
constexpr size_t kMaxSteps = 10'000'000;

// Rough memory of a value, to refuse list repetition or concatenation that would explode.
size_t approximate_bytes(const Json& v, size_t budget) {
  if (v.is_string()) return v.get_ref<const std::string&>().size() + 16;
  size_t total = 16;
  if (v.is_array() || v.is_object()) {
    for (const Json& element : v) {
      total += approximate_bytes(element, budget);
      if (total > budget) break;
    }
  }
  return total;
}

const int64_t* optional_index(const Value& v, int64_t& storage) {
  if (v.is_none()) return nullptr;
  if (v.is_undefined()) throw EvalError(v.name);
  if (!v.is_json() || !is_integral(*v.json))
    throw EvalError("slice indices must be integers or None, not '" + type_name(v) + "'");
  storage = as_int(*v.json);
  return &storage;
}

std::string operand_types(const std::string& op, const Value& a, const Value& b) {
  return "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'";
}

Value repeat(const Value& sequence, int64_t times) {
  if (times <= 0) return Value::of(sequence.is_string() ? Json("") : Json::array());
  const auto n = static_cast<size_t>(times);
  if (sequence.is_string()) {
    const std::string& s = sequence.str();
    if (!s.empty() && n > kMaxBytes / s.size()) throw EvalError("a repeated string grew past the size limit");
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return Value::of(std::move(out));
  }
  const Json& list = *sequence.json;
  if (!list.empty() && (n > kMaxItems / list.size() || n > kMaxBytes / approximate_bytes(list, kMaxBytes)))
    throw EvalError("a repeated list grew past the size limit");
  Json out = Json::array();
  for (size_t i = 0; i < n; ++i)
    for (const Json& element : list) out.push_back(element);
  return Value::of(std::move(out));
}

// Python's int arithmetic within int64 (past it an EvalError, where Python would grow the int).
Value integer_arithmetic(const std::string& op, int64_t i, int64_t j) {
  int64_t r = 0;
  bool overflow = false;
  if (op == "+") {
    overflow = __builtin_add_overflow(i, j, &r);
  } else if (op == "-") {
    overflow = __builtin_sub_overflow(i, j, &r);
  } else if (op == "*") {
    overflow = __builtin_mul_overflow(i, j, &r);
  } else if (op == "//" || op == "%") {
    if (j == 0) throw EvalError("integer division or modulo by zero");
    if (i == INT64_MIN && j == -1) throw EvalError("integer overflow in " + op);
    int64_t q = i / j;
    int64_t m = i % j;
    if (m != 0 && ((m < 0) != (j < 0))) {  // Python rounds toward negative infinity
      --q;
      m += j;
    }
    r = op == "//" ? q : m;
  } else {  // **
    if (j < 0) return Value::of(std::pow(static_cast<double>(i), static_cast<double>(j)));
    r = 1;
    for (int64_t k = 0; k < j && !overflow; ++k) {
      overflow = __builtin_mul_overflow(r, i, &r);
      if (r == 0 || r == 1) break;  // 0, 1 and -1 never overflow: stop early
    }
    if (r == 1 && i == -1 && j % 2 == 1) r = -1;
  }
  if (overflow) throw EvalError("integer overflow in " + op);
  return Value::of(r);
}

Value float_arithmetic(const std::string& op, double p, double q) {
  if (op == "+") return Value::of(p + q);
  if (op == "-") return Value::of(p - q);
  if (op == "*") return Value::of(p * q);
  if (op == "**") return Value::of(std::pow(p, q));
  if (q == 0.0) throw EvalError("float division by zero");
  if (op == "/") return Value::of(p / q);
  // CPython's float floor division and modulo (floatobject.c), signs and rounding included.
  double mod = std::fmod(p, q);
  double div = (p - mod) / q;
  if (mod != 0.0) {
    if ((q < 0) != (mod < 0)) {
      mod += q;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, q);
  }
  if (op == "%") return Value::of(mod);
  double floor_div = std::copysign(0.0, p / q);
  if (div != 0.0) {
    floor_div = std::floor(div);
    if (div - floor_div > 0.5) floor_div += 1.0;
  }
  return Value::of(floor_div);
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) throw EvalError(a.name);
  if (b.is_undefined()) throw EvalError(b.name);
  if (!a.is_json() || !b.is_json()) throw EvalError(operand_types(op, a, b));
  const Json& x = *a.json;
  const Json& y = *b.json;
  if (is_number(x) && is_number(y)) {
    if (is_integral(x) && is_integral(y) && op != "/") return integer_arithmetic(op, as_int(x), as_int(y));
    return float_arithmetic(op, as_double(x), as_double(y));
  }
  if (op == "+" && x.is_string() && y.is_string()) {
    check_size(a.str().size() + b.str().size(), "a joined string");
    return Value::of(a.str() + b.str());
  }
  if (op == "+" && x.is_array() && y.is_array()) {
    if (x.size() + y.size() > kMaxItems ||
        approximate_bytes(x, kMaxBytes) + approximate_bytes(y, kMaxBytes) > kMaxBytes)
      throw EvalError("a joined list grew past the size limit");
    Json out = x;
    for (const Json& element : y) out.push_back(element);
    return Value::of(std::move(out));
  }
  if (op == "*" && (x.is_string() || x.is_array()) && is_integral(y)) return repeat(a, as_int(y));
  if (op == "*" && (y.is_string() || y.is_array()) && is_integral(x)) return repeat(b, as_int(x));
  if (op == "%" && x.is_string()) throw EvalError("string formatting with % is not supported in chat templates here");
  throw EvalError(operand_types(op, a, b));
}

class Renderer {
 public:
  Renderer(const std::string& origin, std::shared_ptr<const Json> variables)
      : origin_(origin), variables_(std::move(variables)) {
    push_scope();
  }

  std::string render(const Body& body) {
    try {
      run(body);
    } catch (const TemplateRefused& e) {
      throw UsageError(origin_ + ": the chat template refused: " + e.what());
    } catch (const EvalError& e) {
      throw UsageError(origin_ + ": line " + std::to_string(line_) + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(origin_ + ": line " + std::to_string(line_) + ": " + e.what());
    }
    return std::move(out_);
  }

 private:
  enum class Flow { kNext, kBreak, kContinue };
  // A handful of names at most: a vector beats a hash map, and keeps its memory when reused.
  using Scope = std::vector<std::pair<std::string, Value>>;

  // Scopes are reused rather than freed, so a loop's iterations allocate nothing for them.
  void push_scope() {
    if (depth_ == scopes_.size()) scopes_.emplace_back();
    scopes_[depth_++].clear();
  }

  // Pushes a scope for its lifetime.
  class Scoped {
   public:
    explicit Scoped(Renderer& r) : r_(r) { r_.push_scope(); }
    ~Scoped() { --r_.depth_; }
    Scoped(const Scoped&) = delete;
    Scoped& operator=(const Scoped&) = delete;

   private:
    Renderer& r_;
  };

  void step(int line) {
    line_ = line;
    if (++steps_ > kMaxSteps)
      throw EvalError("the template ran past " + std::to_string(kMaxSteps) + " steps (an endless loop?)");
  }

  void emit(const std::string& text) {
    out_ += text;
    check_size(out_.size(), "the output");
  }

  void assign(const std::string& name, Value value) {
    Scope& scope = scopes_[depth_ - 1];
    for (auto& [key, existing] : scope) {
      if (key == name) {
        existing = std::move(value);
        return;
      }
    }
    scope.emplace_back(name, std::move(value));
  }

  Value lookup(const std::string& name) const {
    for (size_t i = depth_; i-- > 0;)
      for (const auto& [key, value] : scopes_[i])
        if (key == name) return value;
    const auto found = variables_->find(name);
    if (found != variables_->end()) return Value::alias(std::shared_ptr<const Json>(variables_, &*found));
    return global_function(name);
  }

  Flow run(const Body& body) {
    for (const NodePtr& node : body) {
      const Flow flow = run(*node);
      if (flow != Flow::kNext) return flow;
    }
    return Flow::kNext;
  }

  Flow run(const Node& node) {
    step(node.line);
    switch (node.kind) {
      case Node::Kind::kText: emit(node.text); break;
      case Node::Kind::kOutput: emit(to_str(eval(*node.value))); break;
      case Node::Kind::kIf:
        for (const Branch& branch : node.branches)
          if (!branch.condition || truthy(eval(*branch.condition))) return run(branch.body);
        break;
      case Node::Kind::kFor: run_for(node); break;
      case Node::Kind::kSet: assign(node.targets[0], eval(*node.value)); break;
      case Node::Kind::kSetAttribute: {
        const Value target = lookup(node.targets[0]);
        if (target.kind != Value::Kind::kNamespace)
          throw EvalError("cannot assign attribute on non-namespace object '" + node.targets[0] + "'");
        Value value = eval(*node.value);
        if (Value* existing = target.ns->find(node.targets[1]))
          *existing = std::move(value);
        else
          target.ns->attributes.emplace_back(node.targets[1], std::move(value));
        break;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        {
          const Scoped scope(*this);
          std::swap(out_, captured);
          run(node.body);
          std::swap(out_, captured);
        }
        assign(node.targets[0], Value::of(std::move(captured)));
        break;
      }
      case Node::Kind::kScope: {
        const Scoped scope(*this);
        run(node.body);
        break;
      }
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
    }
    return Flow::kNext;
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& item) {
    if (targets.size() == 1) {
      assign(targets[0], item);
      return;
    }
    if (!item.is_json() || !(item.json->is_array() || item.json->is_string()))
      throw EvalError("cannot unpack non-iterable " + type_name(item) + " object");
    const std::vector<Value> parts = iterate(item);
    if (parts.size() != targets.size())
      throw EvalError("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(targets.size()) +
                      " loop variables");
    for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], parts[i]);
  }

  void run_for(const Node& node) {
    std::vector<Value> items = iterate(eval(*node.value));
    if (node.filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        const Scoped scope(*this);
        bind_targets(node.targets, item);
        if (truthy(eval(*node.filter))) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      const Scoped scope(*this);
      run(node.else_body);
      return;
    }
    // One loop object for all iterations, as Jinja's LoopContext is.
    const auto loop = std::make_shared<LoopInfo>();
    loop->items = std::make_shared<const std::vector<Value>>(std::move(items));
    Value loop_value;
    loop_value.kind = Value::Kind::kLoop;
    loop_value.loop = loop;
    for (size_t i = 0; i < loop->items->size(); ++i) {
      step(node.line);
      const Scoped scope(*this);
      loop->index0 = static_cast<int64_t>(i);
      bind_targets(node.targets, (*loop->items)[i]);
      assign("loop", loop_value);
      if (run(node.body) == Flow::kBreak) break;
    }
  }

  Arguments arguments(const Expr& e) {
    Arguments args;
    for (size_t i = 1; i < e.operands.size(); ++i) args.positional.push_back(eval(*e.operands[i]));
    for (const auto& [name, value] : e.keywords) args.keywords.emplace_back(name, eval(*value));
    return args;
  }

  Value eval(const Expr& e) {
    step(e.line);
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value::of(e.literal);
      case Expr::Kind::kName: return lookup(e.name);
      case Expr::Kind::kAttribute: return get_attribute(eval(*e.operands[0]), e.name);
      case Expr::Kind::kItem: {
        const Value target = eval(*e.operands[0]);
        return get_item(target, eval(*e.operands[1]));
      }
      case Expr::Kind::kSlice: return slice(e);
      case Expr::Kind::kCall: {
        const Value callee = eval(*e.operands[0]);
        return call(callee, arguments(e));
      }
      case Expr::Kind::kFilter: {
        const Value value = eval(*e.operands[0]);
        return apply_filter(e.name, value, arguments(e));
      }
      case Expr::Kind::kTest: {
        const Value value = eval(*e.operands[0]);
        return Value::of(apply_test(e.name, value, arguments(e)) != e.negated);
      }
      case Expr::Kind::kUnary: return unary(e.name, eval(*e.operands[0]));
      case Expr::Kind::kBinary: {
        Value left = eval(*e.operands[0]);
        if (e.name == "and") return truthy(left) ? eval(*e.operands[1]) : left;
        if (e.name == "or") return truthy(left) ? left : eval(*e.operands[1]);
        return arithmetic(e.name, left, eval(*e.operands[1]));
      }
      case Expr::Kind::kConcat: {
        std::string out;
        for (const ExprPtr& part : e.operands) {
          out += to_str(eval(*part));
          check_size(out.size(), "a joined string");
        }
        return Value::of(std::move(out));
      }
      case Expr::Kind::kCompare: return compare(e);
      case Expr::Kind::kCondition:
        if (truthy(eval(*e.operands[0]))) return eval(*e.operands[1]);
        if (e.operands[2]) return eval(*e.operands[2]);
        return Value::undefined("the inline if expression evaluated to false and no else section was defined");
      case Expr::Kind::kList: {
        Json out = Json::array();
        for (const ExprPtr& item : e.operands) out.push_back(to_json(eval(*item)));
        return Value::of(std::move(out));
      }
      case Expr::Kind::kDict: {
        Json out = Json::object();
        for (size_t i = 0; i + 1 < e.operands.size(); i += 2) {
          const Value key = eval(*e.operands[i]);
          if (!key.is_string()) throw EvalError("dict keys must be strings here, not '" + type_name(key) + "'");
          out[key.str()] = to_json(eval(*e.operands[i + 1]));
        }
        return Value::of(std::move(out));
      }
    }
    throw EvalError("unknown expression");
  }

  Value unary(const std::string& op, const Value& v) {
    if (op == "not") return Value::of(!truthy(v));
    if (v.is_undefined()) throw EvalError(v.name);
    if (!v.is_json() || !is_number(*v.json)) throw EvalError("bad operand type for unary " + op + ": '" + type_name(v) + "'");
    if (v.json->is_number_float()) return Value::of(op == "-" ? -v.json->get<double>() : v.json->get<double>());
    const int64_t i = as_int(*v.json);
    if (op == "-" && i == INT64_MIN) throw EvalError("integer overflow in unary -");
    return Value::of(op == "-" ? -i : i);
  }

  Value compare(const Expr& e) {
    Value left = eval(*e.operands[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
      Value right = eval(*e.operands[i + 1]);
      const std::string& op = e.ops[i];
      bool result = false;
      if (op == "==")
        result = equals(left, right);
      else if (op == "!=")
        result = !equals(left, right);
      else if (op == "<")
        result = less(left, right);
      else if (op == ">")
        result = less(right, left);
      else if (op == "<=")
        result = less(left, right) || equals(left, right);
      else if (op == ">=")
        result = less(right, left) || equals(left, right);
      else if (op == "in")
        result = contains(right, left);
      else
        result = !contains(right, left);
      if (!result) return Value::of(false);  // Python chains: a < b < c is a < b and b < c
      left = std::move(right);
    }
    return Value::of(true);
  }

  Value slice(const Expr& e) {
    const Value target = eval(*e.operands[0]);
    if (target.is_undefined()) throw EvalError(target.name);
    int64_t storage[3];
    const int64_t* bounds[3] = {nullptr, nullptr, nullptr};
    for (size_t i = 0; i < 3; ++i)
      if (e.operands[i + 1]) bounds[i] = optional_index(eval(*e.operands[i + 1]), storage[i]);
    if (target.is_string()) {
      const std::vector<std::string_view> chars = code_points(target.str());
      std::string out;
      for (const int64_t i : slice_indices(static_cast<int64_t>(chars.size()), bounds[0], bounds[1], bounds[2]))
        out += chars[static_cast<size_t>(i)];
      return Value::of(std::move(out));
    }
    if (target.is_array()) {
      const Json& list = *target.json;
      Json out = Json::array();
      for (const int64_t i : slice_indices(static_cast<int64_t>(list.size()), bounds[0], bounds[1], bounds[2]))
        out.push_back(list[static_cast<size_t>(i)]);
      return Value::of(std::move(out));
    }
    throw EvalError("'" + type_name(target) + "' object is not subscriptable");  // Jinja slices with Python's []
  }

  const std::string& origin_;
  std::shared_ptr<const Json> variables_;
  std::vector<Scope> scopes_;
  size_t depth_ = 0;  // scopes_[0, depth_) are in use
  std::string out_;
  int line_ = 1;
  size_t steps_ = 0;
};

}  // namespace

std::string render_template(const Body& body, const std::string& origin, std::shared_ptr<const Json> variables) {
  return Renderer(origin, std::move(variables)).render(body);
}

}  // namespace ladder::chat_template
