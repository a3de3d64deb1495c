// A small parser for Python literals (what repr()/str() of dicts, lists,
// strings and numbers print, and what ast.literal_eval reads) and JSON, which
// is nearly a subset. Used for the Amazon files: reviews are JSON lines, the
// metadata are Python dict literals with single-quoted strings.
//
// Accepted: dicts {k: v, ...}, lists [...], tuples (...) (returned as lists),
// strings in '...' or "..." with optional prefixes u/b/r (any case/order),
// adjacent string literals concatenated, numbers (ints, with an optional
// Python 2 "L" suffix; floats with fraction/exponent), True/False/None and
// JSON's true/false/null, trailing commas. Not accepted: sets, triple-quoted
// strings, \N{...} escapes, expressions.
//
// Strings come out as UTF-8. \uXXXX and \UXXXXXXXX (escapes in every
// non-raw string, as in JSON and Python 3) give code points (JSON
// surrogate pairs are joined, lone surrogates become U+FFFD). In a u-prefixed
// string \xHH is the code point U+00HH; otherwise (Python 2 byte strings, the
// Amazon dump's case) it is the raw byte HH, and a string whose bytes are then
// not valid UTF-8 is re-read as Latin-1, so the result is always valid UTF-8.
#ifndef DIPS_TOOLS_LITERAL_PARSER_H_
#define DIPS_TOOLS_LITERAL_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace dips {

class LiteralValue {
 public:
  enum class Type { kNone, kBool, kInt, kFloat, kString, kList, kDict };

  LiteralValue() = default;
  static LiteralValue None() { return LiteralValue(); }
  static LiteralValue Bool(bool b);
  static LiteralValue Int(int64_t i);
  static LiteralValue Float(double d);
  static LiteralValue String(std::string s);
  static LiteralValue List(std::vector<LiteralValue> items);
  static LiteralValue Dict(std::vector<std::pair<LiteralValue, LiteralValue>> items);

  Type type() const { return type_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_int() const { return type_ == Type::kInt; }

  // Accessors CHECK the type: asking a string for its int is a caller bug.
  bool bool_value() const;
  int64_t int_value() const;
  double float_value() const;  // kFloat or kInt
  const std::string& string_value() const;
  const std::vector<LiteralValue>& list() const;
  const std::vector<std::pair<LiteralValue, LiteralValue>>& dict_items() const;

  // Value of the first entry whose key is the string `key`; nullptr if there
  // is none or this is not a dict.
  const LiteralValue* Find(std::string_view key) const;

 private:
  Type type_ = Type::kNone;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;
  std::vector<LiteralValue> list_;
  std::vector<std::pair<LiteralValue, LiteralValue>> dict_;
};

struct LiteralParserOptions {
  // More nested dicts/lists are rejected, so hostile input cannot exhaust
  // the stack.
  int max_depth = 64;
};

// Parses exactly one value (surrounding whitespace allowed). Errors are
// InvalidArgument with the byte offset of the problem.
StatusOr<LiteralValue> ParseLiteral(std::string_view text,
                                    const LiteralParserOptions& options = {});

}  // namespace dips

#endif  // DIPS_TOOLS_LITERAL_PARSER_H_
