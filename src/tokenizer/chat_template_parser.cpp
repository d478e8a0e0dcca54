// Jinja2's parser (jinja2/parser.py) for the statements and expressions chat templates use, with
// its operator precedence: `x if c else y` < or < and < not < comparisons < + - < ~ < * / // %
// < ** < unary - + < filters and tests < . [] ().
#include <algorithm>

#include "chat_template_builtins.h"
#include "chat_template_syntax.h"
#include "ladder/error.h"

namespace ladder::chat_template {
namespace {

using Kind = Token::Kind;

// Jinja2 statements outside the subset, named so the error says what is missing.
const char* const kUnsupportedTags[] = {"macro", "call", "filter", "include", "import", "from", "extends",
                                        "block", "with", "autoescape", "do", "trans"};

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& origin) : tokens_(std::move(tokens)), origin_(origin) {}

  Body parse() {
    std::string found;
    return parse_body({}, found);
  }

 private:
  // Counts the parser's own recursion; see kMaxNesting.
  class Nest {
   public:
    Nest(Parser& parser, int line) : parser_(parser) {
      if (++parser_.nesting_ > kMaxNesting)
        parser_.fail(line, "the template nests deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~Nest() { --parser_.nesting_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Parser& parser_;
  };

  [[noreturn]] void fail(int line, const std::string& message) const {
    throw FormatError(origin_ + ": line " + std::to_string(line) + ": " + message);
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Kind::kData: return "text";
      case Kind::kBlockBegin: return "'{%'";
      case Kind::kBlockEnd: return "'%}'";
      case Kind::kVariableBegin: return "'{{'";
      case Kind::kVariableEnd: return "'}}'";
      case Kind::kString: return "a string";
      case Kind::kEnd: return "the end of the template";
      default: return "'" + t.text + "'";
    }
  }

  [[noreturn]] void unexpected(const std::string& expected) const {
    fail(peek().line, "expected " + expected + ", found " + describe(peek()));
  }

  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  Token next() {
    Token t = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool at_op(const char* op, size_t ahead = 0) const { return peek(ahead).kind == Kind::kOperator && peek(ahead).text == op; }
  bool at_name(const char* name, size_t ahead = 0) const { return peek(ahead).kind == Kind::kName && peek(ahead).text == name; }
  bool skip_op(const char* op) { return at_op(op) ? (next(), true) : false; }
  bool skip_name(const char* name) { return at_name(name) ? (next(), true) : false; }
  void expect_op(const char* op) {
    if (!skip_op(op)) unexpected(std::string("'") + op + "'");
  }
  void expect(Kind kind, const char* what) {
    if (peek().kind != kind) unexpected(what);
    next();
  }
  void expect_block_end() { expect(Kind::kBlockEnd, "the end of the statement ('%}')"); }
  std::string expect_name(const char* what) {
    if (peek().kind != Kind::kName) unexpected(what);
    return next().text;
  }

  ExprPtr make(Expr::Kind kind, int line, std::vector<ExprPtr> operands = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    e->operands = std::move(operands);
    for (const ExprPtr& operand : e->operands)
      if (operand) e->depth = std::max(e->depth, operand->depth + 1);
    if (e->depth > kMaxTreeDepth) fail(line, "an expression nests deeper than " + std::to_string(kMaxTreeDepth) + " levels");
    return e;
  }

  ExprPtr literal(int line, Json value) {
    ExprPtr e = make(Expr::Kind::kLiteral, line);
    e->literal = std::move(value);
    return e;
  }

  ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right) {
    const int line = left->line;
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(left));
    operands.push_back(std::move(right));
    ExprPtr e = make(Expr::Kind::kBinary, line, std::move(operands));
    e->name = op;
    return e;
  }

  // Jinja 3.1 refuses an unknown filter or test when it compiles, except inside an if
  // statement or an inline if (its "soft" frames), where only running it fails. A for loop,
  // set block or generation block inside starts a frame that is not soft again.
  void check_names(const Expr& e, bool soft) const {
    if (!soft && e.kind == Expr::Kind::kFilter && !is_known_filter(e.name))
      fail(e.line, "unknown filter '" + e.name + "' (not one chat templates here support)");
    if (!soft && e.kind == Expr::Kind::kTest && !is_known_test(e.name))
      fail(e.line, "unknown test '" + e.name + "' (not one chat templates here support)");
    const bool inner_soft = soft || e.kind == Expr::Kind::kCondition;
    for (const ExprPtr& operand : e.operands)
      if (operand) check_names(*operand, inner_soft);
    for (const auto& keyword : e.keywords) check_names(*keyword.second, inner_soft);
  }

  ExprPtr checked(ExprPtr e) {
    check_names(*e, soft_);
    return e;
  }

  // Runs `parse` with soft_ set to `soft`, restoring it after.
  template <typename F>
  auto with_soft(bool soft, F parse) {
    const bool saved = soft_;
    soft_ = soft;
    auto result = parse();
    soft_ = saved;
    return result;
  }

  // ---- statements

  Body parse_body(const std::vector<std::string>& end_tags, std::string& found) {
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.kind == Kind::kData) {
        auto node = std::make_unique<Node>();
        node->line = t.line;
        node->text = next().text;
        body.push_back(std::move(node));
      } else if (t.kind == Kind::kVariableBegin) {
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::kOutput;
        node->line = next().line;
        node->value = checked(parse_tuple(true));
        expect(Kind::kVariableEnd, "the end of the print statement ('}}')");
        body.push_back(std::move(node));
      } else if (t.kind == Kind::kBlockBegin) {
        const int line = next().line;
        const std::string tag = expect_name("a statement name");
        if (std::find(end_tags.begin(), end_tags.end(), tag) != end_tags.end()) {
          found = tag;
          return body;
        }
        body.push_back(parse_statement(tag, line, end_tags));
      } else if (t.kind == Kind::kEnd) {
        if (!end_tags.empty()) fail(t.line, "unexpected end of template, expected " + tag_list(end_tags));
        return body;
      } else {
        unexpected("text or a tag");
      }
    }
  }

  static std::string tag_list(const std::vector<std::string>& tags) {
    std::string out;
    for (size_t i = 0; i < tags.size(); ++i) out += (i == 0 ? "" : " or ") + ("{% " + tags[i] + " %}");
    return out;
  }

  NodePtr parse_statement(const std::string& tag, int line, const std::vector<std::string>& enclosing) {
    const Nest nest(*this, line);
    auto node = std::make_unique<Node>();
    node->line = line;
    if (tag == "if") {
      parse_if(*node);
    } else if (tag == "for") {
      parse_for(*node);
    } else if (tag == "set") {
      parse_set(*node);
    } else if (tag == "generation") {  // transformers' AssistantTracker: the body, in a scope
      node->kind = Node::Kind::kScope;
      expect_block_end();
      const int loops = loops_;
      loops_ = 0;
      std::string found;
      node->body = with_soft(false, [&] { return parse_body({"endgeneration"}, found); });
      loops_ = loops;
      expect_block_end();
    } else if (tag == "break" || tag == "continue") {
      if (loops_ == 0) fail(line, "{% " + tag + " %} outside a for loop");
      node->kind = tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      expect_block_end();
    } else if (std::find(std::begin(kUnsupportedTags), std::end(kUnsupportedTags), tag) != std::end(kUnsupportedTags)) {
      fail(line, "{% " + tag + " %} is not supported in chat templates here (supported: if, for, set, generation, "
                 "break, continue, raw)");
    } else {
      fail(line, "unknown tag '" + tag + "'" + (enclosing.empty() ? "" : ", expected " + tag_list(enclosing)));
    }
    return node;
  }

  void parse_if(Node& node) {
    node.kind = Node::Kind::kIf;
    const bool saved = soft_;
    soft_ = true;
    std::string found = "elif";
    while (found == "elif") {
      Branch branch;
      branch.condition = checked(parse_tuple(false));
      expect_block_end();
      branch.body = parse_body({"elif", "else", "endif"}, found);
      node.branches.push_back(std::move(branch));
    }
    if (found == "else") {
      expect_block_end();
      Branch branch;
      branch.body = parse_body({"endif"}, found);
      node.branches.push_back(std::move(branch));
    }
    soft_ = saved;
    expect_block_end();
  }

  void parse_for(Node& node) {
    node.kind = Node::Kind::kFor;
    do {
      node.targets.push_back(expect_name("a loop variable"));
    } while (skip_op(","));
    if (!skip_name("in")) unexpected("'in'");
    node.value = checked(parse_tuple(false));
    const bool saved = soft_;
    soft_ = false;
    if (skip_name("if")) node.filter = checked(parse_expression(true));
    if (at_name("recursive")) fail(peek().line, "recursive for loops are not supported in chat templates here");
    expect_block_end();
    std::string found;
    ++loops_;
    node.body = parse_body({"endfor", "else"}, found);
    --loops_;
    if (found == "else") {
      expect_block_end();
      node.else_body = parse_body({"endfor"}, found);
    }
    soft_ = saved;
    expect_block_end();
  }

  void parse_set(Node& node) {
    node.targets.push_back(expect_name("a variable name"));
    if (skip_op(".")) {
      node.kind = Node::Kind::kSetAttribute;
      node.targets.push_back(expect_name("an attribute name"));
      expect_op("=");
      node.value = checked(parse_tuple(true));
      expect_block_end();
    } else if (skip_op("=")) {
      node.kind = Node::Kind::kSet;
      node.value = checked(parse_tuple(true));
      expect_block_end();
    } else if (peek().kind == Kind::kBlockEnd) {
      node.kind = Node::Kind::kSetBlock;
      next();
      std::string found;
      node.body = with_soft(false, [&] { return parse_body({"endset"}, found); });
      expect_block_end();
    } else if (at_op(",")) {
      fail(peek().line, "{% set a, b = ... %} is not supported in chat templates here");
    } else {
      unexpected("'=' after the variable name");
    }
  }

  // ---- expressions

  bool tuple_end() const {
    const Kind k = peek().kind;
    return k == Kind::kVariableEnd || k == Kind::kBlockEnd || k == Kind::kEnd || at_op(")");
  }

  // `a, b` makes a tuple in Jinja; here a list (it prints with [] instead of ()).
  ExprPtr parse_tuple(bool with_condexpr) {
    const int line = peek().line;
    ExprPtr first = parse_expression(with_condexpr);
    if (!at_op(",")) return first;
    std::vector<ExprPtr> items;
    items.push_back(std::move(first));
    while (skip_op(",")) {
      if (tuple_end() || (with_condexpr == false && (at_name("if") || at_name("recursive")))) break;
      items.push_back(parse_expression(with_condexpr));
    }
    return make(Expr::Kind::kList, line, std::move(items));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    const Nest nest(*this, peek().line);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      const int line = next().line;
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) {
        const Nest nest(*this, line);
        otherwise = parse_condexpr();
      }
      std::vector<ExprPtr> operands;
      operands.push_back(std::move(condition));
      operands.push_back(std::move(expr));
      operands.push_back(std::move(otherwise));
      expr = make(Expr::Kind::kCondition, line, std::move(operands));
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (skip_name("or")) left = binary("or", std::move(left), parse_and());
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (skip_name("and")) left = binary("and", std::move(left), parse_not());
    return left;
  }

  ExprPtr parse_not() {
    if (!at_name("not")) return parse_compare();
    const int line = next().line;
    const Nest nest(*this, line);
    std::vector<ExprPtr> operands;
    operands.push_back(parse_not());
    ExprPtr e = make(Expr::Kind::kUnary, line, std::move(operands));
    e->name = "not";
    return e;
  }

  ExprPtr parse_compare() {
    const int line = peek().line;
    std::vector<ExprPtr> operands;
    operands.push_back(parse_math1());
    std::vector<std::string> ops;
    while (true) {
      const Token& t = peek();
      if (t.kind == Kind::kOperator && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" ||
                                        t.text == "<=" || t.text == ">=")) {
        ops.push_back(next().text);
      } else if (skip_name("in")) {
        ops.push_back("in");
      } else if (at_name("not") && at_name("in", 1)) {
        next();
        next();
        ops.push_back("not in");
      } else {
        break;
      }
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return std::move(operands[0]);
    ExprPtr e = make(Expr::Kind::kCompare, line, std::move(operands));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      const std::string op = next().text;
      left = binary(op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = peek().line;
    std::vector<ExprPtr> parts;
    parts.push_back(parse_math2());
    while (skip_op("~")) parts.push_back(parse_math2());
    if (parts.size() == 1) return std::move(parts[0]);
    return make(Expr::Kind::kConcat, line, std::move(parts));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const std::string op = next().text;
      left = binary(op, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (skip_op("**")) left = binary("**", std::move(left), parse_unary(true));
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      const Token sign = next();
      const Nest nest(*this, sign.line);
      std::vector<ExprPtr> operands;
      operands.push_back(parse_unary(false));
      node = make(Expr::Kind::kUnary, sign.line, std::move(operands));
      node->name = sign.text;
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token t = peek();
    switch (t.kind) {
      case Kind::kName: {
        next();
        if (t.text == "true" || t.text == "True") return literal(t.line, true);
        if (t.text == "false" || t.text == "False") return literal(t.line, false);
        if (t.text == "none" || t.text == "None") return literal(t.line, nullptr);
        ExprPtr e = make(Expr::Kind::kName, t.line);
        e->name = t.text;
        return e;
      }
      case Kind::kString: {
        std::string text = next().text;
        while (peek().kind == Kind::kString) text += next().text;  // 'a' 'b' is 'ab', as in Python
        return literal(t.line, std::move(text));
      }
      case Kind::kInteger: next(); return literal(t.line, t.integer);
      case Kind::kFloat: next(); return literal(t.line, t.number);
      case Kind::kOperator:
        if (t.text == "(") {
          next();
          if (skip_op(")")) return make(Expr::Kind::kList, t.line);
          ExprPtr inner = parse_tuple(true);
          expect_op(")");
          return inner;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_list() {
    const int line = next().line;
    std::vector<ExprPtr> items;
    while (!at_op("]")) {
      if (!items.empty()) {
        expect_op(",");
        if (at_op("]")) break;
      }
      items.push_back(parse_expression(true));
    }
    expect_op("]");
    return make(Expr::Kind::kList, line, std::move(items));
  }

  ExprPtr parse_dict() {
    const int line = next().line;
    std::vector<ExprPtr> items;
    while (!at_op("}")) {
      if (!items.empty()) {
        expect_op(",");
        if (at_op("}")) break;
      }
      items.push_back(parse_expression(true));
      expect_op(":");
      items.push_back(parse_expression(true));
    }
    expect_op("}");
    return make(Expr::Kind::kDict, line, std::move(items));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_op(".")) {
        const int line = next().line;
        const Token t = peek();
        std::vector<ExprPtr> operands;
        operands.push_back(std::move(node));
        if (t.kind == Kind::kName) {
          next();
          node = make(Expr::Kind::kAttribute, line, std::move(operands));
          node->name = t.text;
        } else if (t.kind == Kind::kInteger) {  // foo.0 is foo[0]
          next();
          operands.push_back(literal(line, t.integer));
          node = make(Expr::Kind::kItem, line, std::move(operands));
        } else {
          unexpected("an attribute name after '.'");
        }
      } else if (at_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    const int line = next().line;
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(target));
    ExprPtr start;
    if (!at_op(":")) {
      start = parse_expression(true);
      if (!at_op(":")) {
        expect_op("]");
        operands.push_back(std::move(start));
        return make(Expr::Kind::kItem, line, std::move(operands));
      }
    }
    next();  // ':'
    ExprPtr stop;
    ExprPtr step;
    if (!at_op("]") && !at_op(":")) stop = parse_expression(true);
    if (skip_op(":") && !at_op("]")) step = parse_expression(true);
    expect_op("]");
    operands.push_back(std::move(start));
    operands.push_back(std::move(stop));
    operands.push_back(std::move(step));
    return make(Expr::Kind::kSlice, line, std::move(operands));
  }

  // (positional..., name=value...) into `e`, after its existing operands.
  void parse_arguments(Expr& e) {
    expect_op("(");
    while (!at_op(")")) {
      if (e.operands.size() > 1 || !e.keywords.empty()) {
        expect_op(",");
        if (at_op(")")) break;
      }
      if (at_op("*") || at_op("**")) fail(peek().line, "*args and **kwargs are not supported in chat templates here");
      if (peek().kind == Kind::kName && at_op("=", 1)) {
        std::string name = next().text;
        next();
        e.keywords.emplace_back(std::move(name), parse_expression(true));
        e.depth = std::max(e.depth, e.keywords.back().second->depth + 1);
      } else {
        if (!e.keywords.empty()) fail(peek().line, "a positional argument follows a keyword argument");
        e.operands.push_back(parse_expression(true));
        e.depth = std::max(e.depth, e.operands.back()->depth + 1);
      }
    }
    expect_op(")");
    if (e.depth > kMaxTreeDepth) fail(e.line, "an expression nests deeper than " + std::to_string(kMaxTreeDepth) + " levels");
  }

  ExprPtr parse_call(ExprPtr callee) {
    const int line = peek().line;
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(callee));
    ExprPtr call = make(Expr::Kind::kCall, line, std::move(operands));
    parse_arguments(*call);
    return call;
  }

  std::string dotted_name(const char* what) {
    std::string name = expect_name(what);
    while (skip_op(".")) name += "." + expect_name(what);
    return name;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_op("|")) {
        const int line = next().line;
        const std::string name = dotted_name("a filter name");
        std::vector<ExprPtr> operands;
        operands.push_back(std::move(node));
        node = make(Expr::Kind::kFilter, line, std::move(operands));
        node->name = name;
        if (at_op("(")) parse_arguments(*node);
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr value) {
    const int line = next().line;
    const bool negated = skip_name("not");
    const std::string name = dotted_name("a test name");
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(value));
    ExprPtr test = make(Expr::Kind::kTest, line, std::move(operands));
    test->name = name;
    test->negated = negated;
    const Token& t = peek();
    if (at_op("(")) {
      parse_arguments(*test);
    } else if ((t.kind == Kind::kName || t.kind == Kind::kString || t.kind == Kind::kInteger || t.kind == Kind::kFloat ||
                at_op("[") || at_op("{")) &&
               !at_name("else") && !at_name("or") && !at_name("and")) {
      // Jinja's one-argument form, `x is divisibleby 3`.
      if (at_name("is")) fail(t.line, "tests cannot be chained with 'is'");
      test->operands.push_back(parse_postfix(parse_primary()));
      test->depth = std::max(test->depth, test->operands.back()->depth + 1);
    }
    return test;
  }

  std::vector<Token> tokens_;
  const std::string& origin_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loops_ = 0;
  bool soft_ = false;  // inside an if statement's frame; see check_names
};

}  // namespace

Body parse_template(const std::string& source, const std::string& origin) {
  return Parser(lex_template(source, origin), origin).parse();
}

}  // namespace ladder::chat_template
