#include "tools/literal_parser.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <glog/logging.h>

#include "tools/text_util.h"

namespace dips {

LiteralValue LiteralValue::Bool(bool b) {
  LiteralValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
LiteralValue LiteralValue::Int(int64_t i) {
  LiteralValue v;
  v.type_ = Type::kInt;
  v.int_ = i;
  return v;
}
LiteralValue LiteralValue::Float(double d) {
  LiteralValue v;
  v.type_ = Type::kFloat;
  v.float_ = d;
  return v;
}
LiteralValue LiteralValue::String(std::string s) {
  LiteralValue v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}
LiteralValue LiteralValue::List(std::vector<LiteralValue> items) {
  LiteralValue v;
  v.type_ = Type::kList;
  v.list_ = std::move(items);
  return v;
}
LiteralValue LiteralValue::Dict(std::vector<std::pair<LiteralValue, LiteralValue>> items) {
  LiteralValue v;
  v.type_ = Type::kDict;
  v.dict_ = std::move(items);
  return v;
}

bool LiteralValue::bool_value() const {
  CHECK(type_ == Type::kBool);
  return bool_;
}
int64_t LiteralValue::int_value() const {
  CHECK(type_ == Type::kInt);
  return int_;
}
double LiteralValue::float_value() const {
  CHECK(type_ == Type::kFloat || type_ == Type::kInt);
  return type_ == Type::kInt ? static_cast<double>(int_) : float_;
}
const std::string& LiteralValue::string_value() const {
  CHECK(type_ == Type::kString);
  return string_;
}
const std::vector<LiteralValue>& LiteralValue::list() const {
  CHECK(type_ == Type::kList);
  return list_;
}
const std::vector<std::pair<LiteralValue, LiteralValue>>& LiteralValue::dict_items() const {
  CHECK(type_ == Type::kDict);
  return dict_;
}

const LiteralValue* LiteralValue::Find(std::string_view key) const {
  if (type_ != Type::kDict) return nullptr;
  for (const auto& [k, v] : dict_) {
    if (k.type_ == Type::kString && k.string_ == key) return &v;
  }
  return nullptr;
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(std::string_view text, const LiteralParserOptions& options)
      : text_(text), options_(options) {}

  StatusOr<LiteralValue> ParseDocument() {
    LiteralValue value;
    RETURN_IF_ERROR(ParseValue(0, &value));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the value");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("literal: " + what + " at offset " + std::to_string(pos_));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  // Length of a string prefix (u, b, r, ur, br, rb, ...) followed by a quote
  // at pos_, or -1 when no string starts here.
  int StringPrefixLength() const {
    size_t p = pos_;
    while (p < text_.size() && p - pos_ < 2 && std::strchr("uUbBrR", text_[p]) != nullptr) ++p;
    if (p < text_.size() && (text_[p] == '\'' || text_[p] == '"')) return static_cast<int>(p - pos_);
    return -1;
  }

  Status ParseValue(int depth, LiteralValue* out) {
    SkipSpace();
    if (AtEnd()) return Error("unexpected end of input");
    char c = Peek();
    // `depth` containers enclose this value; one more would pass the limit.
    if ((c == '{' || c == '[' || c == '(') && depth >= options_.max_depth) {
      return Error("more than max_depth nested containers");
    }
    if (c == '{') return ParseDict(depth, out);
    if (c == '[') return ParseSequence(depth, ']', out);
    if (c == '(') return ParseSequence(depth, ')', out);
    if (StringPrefixLength() >= 0) return ParseStrings(out);
    if (IsDigit(c) || c == '-' || c == '+' || c == '.') return ParseNumber(out);
    return ParseName(out);
  }

  Status ParseDict(int depth, LiteralValue* out) {
    ++pos_;  // '{'
    std::vector<std::pair<LiteralValue, LiteralValue>> items;
    while (true) {
      SkipSpace();
      if (Peek() == '}') break;
      LiteralValue key, value;
      RETURN_IF_ERROR(ParseValue(depth + 1, &key));
      SkipSpace();
      if (Peek() != ':') return Error("expected ':' in dict");
      ++pos_;
      RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      items.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() != '}') return Error("expected ',' or '}' in dict");
    }
    ++pos_;  // '}'
    *out = LiteralValue::Dict(std::move(items));
    return Status::OK();
  }

  Status ParseSequence(int depth, char close, LiteralValue* out) {
    ++pos_;  // '[' or '('
    std::vector<LiteralValue> items;
    while (true) {
      SkipSpace();
      if (Peek() == close) break;
      LiteralValue item;
      RETURN_IF_ERROR(ParseValue(depth + 1, &item));
      items.push_back(std::move(item));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() != close) return Error(std::string("expected ',' or '") + close + "'");
    }
    ++pos_;
    *out = LiteralValue::List(std::move(items));
    return Status::OK();
  }

  // One or more adjacent string literals, concatenated.
  Status ParseStrings(LiteralValue* out) {
    std::string value;
    int prefix;
    while ((prefix = StringPrefixLength()) >= 0) {
      RETURN_IF_ERROR(ParseOneString(static_cast<size_t>(prefix), &value));
      SkipSpace();
    }
    *out = LiteralValue::String(std::move(value));
    return Status::OK();
  }

  Status ParseOneString(size_t prefix_length, std::string* value) {
    bool raw = false, unicode = false;
    for (size_t i = 0; i < prefix_length; ++i) {
      char p = text_[pos_ + i];
      raw |= p == 'r' || p == 'R';
      unicode |= p == 'u' || p == 'U';
    }
    pos_ += prefix_length;
    const char quote = text_[pos_++];
    std::string bytes;
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\n') return Error("newline inside a string");
      if (c != '\\') {
        bytes.push_back(c);
        continue;
      }
      if (AtEnd()) return Error("unterminated string");
      if (raw) {  // a raw string keeps the backslash; \' still does not end it
        bytes.push_back('\\');
        bytes.push_back(text_[pos_++]);
        continue;
      }
      RETURN_IF_ERROR(ParseEscape(unicode, &bytes));
    }
    // Python 2 byte strings may hold any bytes; keep the output UTF-8.
    if (!unicode && !IsValidUtf8(bytes)) bytes = Latin1ToUtf8(bytes);
    value->append(bytes);
    return Status::OK();
  }

  // After a backslash (pos_ at the escape letter).
  Status ParseEscape(bool unicode, std::string* bytes) {
    char e = text_[pos_++];
    switch (e) {
      case '\\': bytes->push_back('\\'); return Status::OK();
      case '\'': bytes->push_back('\''); return Status::OK();
      case '"': bytes->push_back('"'); return Status::OK();
      case '/': bytes->push_back('/'); return Status::OK();  // JSON
      case 'a': bytes->push_back('\a'); return Status::OK();
      case 'b': bytes->push_back('\b'); return Status::OK();
      case 'f': bytes->push_back('\f'); return Status::OK();
      case 'n': bytes->push_back('\n'); return Status::OK();
      case 'r': bytes->push_back('\r'); return Status::OK();
      case 't': bytes->push_back('\t'); return Status::OK();
      case 'v': bytes->push_back('\v'); return Status::OK();
      case '\n': return Status::OK();  // line continuation
      case 'x': {
        uint32_t v = 0;
        RETURN_IF_ERROR(ReadHex(2, &v));
        if (unicode) {
          AppendUtf8(v, bytes);
        } else {
          bytes->push_back(static_cast<char>(v));
        }
        return Status::OK();
      }
      case 'u':
      case 'U': {
        uint32_t v = 0;
        RETURN_IF_ERROR(ReadHex(e == 'u' ? 4 : 8, &v));
        // A JSON surrogate pair: \uD83D\uDE00 is one code point.
        if (v >= 0xD800 && v <= 0xDBFF && pos_ + 6 <= text_.size() && text_[pos_] == '\\' &&
            text_[pos_ + 1] == 'u') {
          size_t save = pos_;
          pos_ += 2;
          uint32_t low = 0;
          if (ReadHex(4, &low).ok() && low >= 0xDC00 && low <= 0xDFFF) {
            v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
          } else {
            pos_ = save;
          }
        }
        AppendUtf8(v, bytes);
        return Status::OK();
      }
      default:
        break;
    }
    if (e >= '0' && e <= '7') {  // up to three octal digits
      uint32_t v = static_cast<uint32_t>(e - '0');
      for (int i = 0; i < 2 && !AtEnd() && text_[pos_] >= '0' && text_[pos_] <= '7'; ++i) {
        v = v * 8 + static_cast<uint32_t>(text_[pos_++] - '0');
      }
      if (unicode) {
        AppendUtf8(v, bytes);
      } else {
        bytes->push_back(static_cast<char>(v & 0xFF));
      }
      return Status::OK();
    }
    if (e == 'N') return Error("\\N{...} escapes are not supported");
    // Python keeps unknown escapes verbatim.
    bytes->push_back('\\');
    bytes->push_back(e);
    return Status::OK();
  }

  Status ReadHex(int digits, uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      int h = AtEnd() ? -1 : HexValue(text_[pos_]);
      if (h < 0) return Error("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    *out = v;
    return Status::OK();
  }

  Status ParseNumber(LiteralValue* out) {
    const size_t start = pos_;
    if (Peek() == '-' || Peek() == '+') ++pos_;
    bool is_float = false, digits = false;
    while (IsDigit(Peek())) ++pos_, digits = true;
    if (Peek() == '.') {
      is_float = true;
      ++pos_;
      while (IsDigit(Peek())) ++pos_, digits = true;
    }
    if (!digits) return Error("bad number");
    if (Peek() == 'e' || Peek() == 'E') {
      is_float = true;
      ++pos_;
      if (Peek() == '-' || Peek() == '+') ++pos_;
      if (!IsDigit(Peek())) return Error("bad exponent");
      while (IsDigit(Peek())) ++pos_;
    }
    std::string number(text_.substr(start, pos_ - start));
    if (!is_float && (Peek() == 'L' || Peek() == 'l')) ++pos_;  // Python 2 long
    errno = 0;
    if (!is_float) {
      long long v = std::strtoll(number.c_str(), nullptr, 10);
      if (errno != ERANGE) {
        *out = LiteralValue::Int(v);
        return Status::OK();
      }
      errno = 0;  // too big for int64: keep it as a float
    }
    double d = std::strtod(number.c_str(), nullptr);
    if (errno == ERANGE && (d > 1.0 || d < -1.0)) return Error("number out of range");
    *out = LiteralValue::Float(d);
    return Status::OK();
  }

  Status ParseName(LiteralValue* out) {
    size_t end = pos_;
    while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) ||
                                  text_[end] == '_')) {
      ++end;
    }
    std::string_view name = text_.substr(pos_, end - pos_);
    if (name == "True" || name == "true") {
      *out = LiteralValue::Bool(true);
    } else if (name == "False" || name == "false") {
      *out = LiteralValue::Bool(false);
    } else if (name == "None" || name == "null") {
      *out = LiteralValue::None();
    } else {
      return Error(name.empty() ? "unexpected character" : "unknown name '" + std::string(name) + "'");
    }
    pos_ = end;
    return Status::OK();
  }

  std::string_view text_;
  const LiteralParserOptions& options_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<LiteralValue> ParseLiteral(std::string_view text, const LiteralParserOptions& options) {
  return Parser(text, options).ParseDocument();
}

}  // namespace dips
