#include "tools/literal_parser.h"

#include <string>

#include <gtest/gtest.h>

namespace dips {
namespace {

LiteralValue MustParse(const std::string& text) {
  StatusOr<LiteralValue> v = ParseLiteral(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().ToString();
  return v.ok() ? *v : LiteralValue();
}

TEST(LiteralParserTest, PythonDictWithNestingAndMixedQuotes) {
  LiteralValue v = MustParse(
      "{'a': 'It\\'s', \"b\": \"say \\\"hi\\\"\", 'c': [1, -2.5, 3e2, 7L], 'd': (1,), "
      "'e': None, 'f': True, 'g': {'x': [], 'y': ()},}");
  ASSERT_TRUE(v.is_dict());
  EXPECT_EQ(v.dict_items().size(), 7u);
  EXPECT_EQ(v.Find("a")->string_value(), "It's");
  EXPECT_EQ(v.Find("b")->string_value(), "say \"hi\"");
  const auto& c = v.Find("c")->list();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].int_value(), 1);
  EXPECT_DOUBLE_EQ(c[1].float_value(), -2.5);
  EXPECT_DOUBLE_EQ(c[2].float_value(), 300.0);
  EXPECT_EQ(c[3].int_value(), 7);  // Python 2 long suffix
  ASSERT_EQ(v.Find("d")->list().size(), 1u);  // one-element tuple
  EXPECT_EQ(v.Find("e")->type(), LiteralValue::Type::kNone);
  EXPECT_TRUE(v.Find("f")->bool_value());
  EXPECT_TRUE(v.Find("g")->Find("x")->list().empty());
  EXPECT_EQ(v.Find("missing"), nullptr);
}

TEST(LiteralParserTest, AmazonMetaCategoryPath) {
  LiteralValue v = MustParse(
      "{'asin': '0001', 'related': {'also_bought': ['B1', 'B2']}, 'price': 9.49, "
      "'categories': [['CDs & Vinyl', 'New Age', 'Celtic New Age'], ['CDs & Vinyl', 'Pop']]}");
  const auto& paths = v.Find("categories")->list();
  EXPECT_EQ(paths.front().list().back().string_value(), "Celtic New Age");
}

TEST(LiteralParserTest, JsonKeywordsAndUnicodeEscapes) {
  LiteralValue v = MustParse(
      "{\"t\": true, \"f\": false, \"n\": null, \"s\": \"caf\\u00e9 \\ud83d\\ude00 \\ud800x\"}");
  EXPECT_TRUE(v.Find("t")->bool_value());
  EXPECT_FALSE(v.Find("f")->bool_value());
  EXPECT_EQ(v.Find("n")->type(), LiteralValue::Type::kNone);
  // é = C3 A9; U+1F600 = F0 9F 98 80; a lone high surrogate becomes U+FFFD.
  EXPECT_EQ(v.Find("s")->string_value(), "caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBDx");
}

TEST(LiteralParserTest, ByteStringEscapes) {
  // Control escapes and a backslash.
  EXPECT_EQ(MustParse("'a\\n\\t\\\\b'").string_value(), "a\n\t\\b");
  // \x bytes that form valid UTF-8 stay as they are (Python 2 str of UTF-8).
  EXPECT_EQ(MustParse("'\\xc3\\xa9'").string_value(), "\xC3\xA9");
  // A lone high byte is not UTF-8: re-read as Latin-1, so 0xE9 -> U+00E9.
  EXPECT_EQ(MustParse("'\\xe9t\\xe9'").string_value(), "\xC3\xA9t\xC3\xA9");
  // In a unicode string \xHH is a code point.
  EXPECT_EQ(MustParse("u'\\xe9'").string_value(), "\xC3\xA9");
  // Octal escapes.
  EXPECT_EQ(MustParse("'\\101\\0'").string_value(), std::string("A\0", 2));
  // Unknown escapes stay verbatim, as in Python.
  EXPECT_EQ(MustParse("'\\q'").string_value(), "\\q");
  // Raw strings keep backslashes; \' does not end them.
  EXPECT_EQ(MustParse("r'a\\'b'").string_value(), "a\\'b");
  // Adjacent literals concatenate.
  EXPECT_EQ(MustParse("'ab' \"cd\" u'ef'").string_value(), "abcdef");
}

TEST(LiteralParserTest, NumbersOutsideInt64BecomeFloats) {
  LiteralValue v = MustParse("99999999999999999999");
  ASSERT_EQ(v.type(), LiteralValue::Type::kFloat);
  EXPECT_DOUBLE_EQ(v.float_value(), 1e20);
  EXPECT_EQ(MustParse("-9223372036854775808").int_value(), INT64_MIN);
  EXPECT_DOUBLE_EQ(MustParse(".5").float_value(), 0.5);
}

TEST(LiteralParserTest, RejectsMalformedInput) {
  const char* bad[] = {
      "",                  // nothing
      "'unterminated",     // no closing quote
      "{'a' 1}",           // missing colon
      "[1, 2",             // missing bracket
      "{} x",              // trailing text
      "nan",               // not a literal
      "{1, 2}",            // a set
      "[1,, 2]",           // empty element
      "'\\x4'",            // short hex escape
      "'a\nb'",            // newline in a string
      "-",                 // sign without digits
      "1e",                // exponent without digits
  };
  for (const char* text : bad) {
    StatusOr<LiteralValue> v = ParseLiteral(text);
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(LiteralParserTest, DepthLimitStopsDeepNesting) {
  LiteralParserOptions options;
  options.max_depth = 10;
  std::string ok = std::string(10, '[') + std::string(10, ']');
  std::string deep = std::string(11, '[') + std::string(11, ']');
  EXPECT_TRUE(ParseLiteral(ok, options).ok());
  EXPECT_FALSE(ParseLiteral(deep, options).ok());
  // The default limit keeps hostile input from overflowing the stack.
  std::string hostile = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(ParseLiteral(hostile).ok());
}

TEST(LiteralParserTest, FirstDuplicateKeyWins) {
  LiteralValue v = MustParse("{'k': 1, 'k': 2}");
  EXPECT_EQ(v.Find("k")->int_value(), 1);
}

}  // namespace
}  // namespace dips
