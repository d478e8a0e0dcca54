#pragma once
// The chat-template interpreter's tokens and syntax tree, and the two steps that make them:
// lex_template (Jinja2's lexer with trim_blocks and lstrip_blocks) and parse_template.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat_template_value.h"

namespace ladder::chat_template {

// Nesting deeper than this (parentheses, blocks, chained operators) is refused while parsing,
// so neither the parser nor the renderer can run out of stack on hostile input.
constexpr int kMaxNesting = 200;
constexpr int kMaxTreeDepth = 1000;

struct Token {
  enum class Kind { kData, kBlockBegin, kBlockEnd, kVariableBegin, kVariableEnd, kName, kString, kInteger, kFloat,
                    kOperator, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;  // data, a name, a string's value (unescaped), an operator
  int64_t integer = 0;
  double number = 0;
  int line = 1;
};

// The template as tokens; comments and whitespace control already applied. FormatError
// naming `origin` and the line on an unterminated tag, comment or string, or a stray bracket.
std::vector<Token> lex_template(const std::string& source, const std::string& origin);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kAttribute,  // operands[0].name
    kItem,       // operands[0][operands[1]]
    kSlice,      // operands[0][operands[1]:operands[2]:operands[3]], absent parts null
    kCall,       // operands[0](operands[1:], keywords)
    kFilter,     // operands[0] | name(operands[1:], keywords)
    kTest,       // operands[0] is [not] name(operands[1:])
    kUnary,      // name ("-", "+", "not") operands[0]
    kBinary,     // operands[0] name operands[1]: + - * / // % ** and or
    kConcat,     // operands joined with ~
    kCompare,    // operands[0] ops[0] operands[1] ops[1] operands[2] ..., chained as in Python
    kCondition,  // operands[1] if operands[0] else operands[2] (absent: undefined)
    kList,       // [operands...]
    kDict,       // {operands[0]: operands[1], ...}
  };
  Kind kind = Kind::kLiteral;
  int line = 0;
  int depth = 1;  // of the tree below, for kMaxTreeDepth
  Json literal;
  std::string name;
  bool negated = false;  // kTest: `is not`
  std::vector<ExprPtr> operands;
  std::vector<std::string> ops;                         // kCompare
  std::vector<std::pair<std::string, ExprPtr>> keywords;  // kCall, kFilter, kTest
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Branch {
  ExprPtr condition;  // null for else
  Body body;
};

struct Node {
  enum class Kind {
    kText,          // text
    kOutput,        // {{ value }}
    kIf,            // branches
    kFor,           // for targets in value [if filter]: body, else: else_body
    kSet,           // set targets[0] = value
    kSetAttribute,  // set targets[0].targets[1] = value
    kSetBlock,      // set targets[0]: body's output
    kScope,         // generation: body in a scope of its own
    kBreak,
    kContinue,
  };
  Kind kind = Kind::kText;
  int line = 0;
  std::string text;
  ExprPtr value;
  ExprPtr filter;
  std::vector<std::string> targets;
  std::vector<Branch> branches;
  Body body;
  Body else_body;
};

// FormatError naming `origin` and the line on a syntax error or a construct outside the subset.
Body parse_template(const std::string& source, const std::string& origin);

// The output of `body` with `variables` (a JSON object). UsageError naming `origin`: the
// template's own raise_exception message, or the line and what failed.
std::string render_template(const Body& body, const std::string& origin, std::shared_ptr<const Json> variables);

}  // namespace ladder::chat_template
