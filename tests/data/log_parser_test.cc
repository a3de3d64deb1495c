#include "worker/data/log_parser.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/feature_key.h"

namespace dips {
namespace {

constexpr char kSep = '\x02';

std::string Hist(const std::vector<std::string>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += kSep;
    s += ids[i];
  }
  return s;
}

std::string Tabs(const std::vector<std::string>& cols) {
  std::string s;
  for (size_t i = 0; i < cols.size(); ++i) s += (i > 0 ? "\t" : "") + cols[i];
  return s;
}

std::vector<uint64_t> Keys(std::string_view field, const std::vector<std::string>& ids) {
  std::vector<uint64_t> keys;
  for (const auto& id : ids) keys.push_back(FeatureKey(field, id));
  return keys;
}

LineError ParseDien(const std::string& line, Sample* s, int max_history = 100) {
  LogParser parser(LogSchema(), max_history);
  std::string detail;
  const LineError e = parser.Parse(line, s, &detail);
  if (e != LineError::kOk) {
    EXPECT_FALSE(detail.empty()) << LineErrorName(e);
  }
  return e;
}

TEST(LogParserTest, DienLineBecomesKeysOfTheRightFields) {
  Sample s;
  ASSERT_EQ(ParseDien(Tabs({"1", "u1", "i9", "c3", Hist({"i1", "i2"}), Hist({"c1", "c2"})}), &s),
            LineError::kOk);
  EXPECT_EQ(s.label, 1.0f);
  EXPECT_EQ(s.user_key, FeatureKey(kUserField, "u1"));
  EXPECT_EQ(s.item_key, FeatureKey(kItemField, "i9"));
  EXPECT_EQ(s.category_key, FeatureKey(kCategoryField, "c3"));
  EXPECT_EQ(s.shop_key, 0u);
  EXPECT_EQ(s.item_history, Keys(kItemField, {"i1", "i2"}));
  EXPECT_EQ(s.category_history, Keys(kCategoryField, {"c1", "c2"}));
  EXPECT_TRUE(s.shop_history.empty());
  EXPECT_TRUE(s.extra_keys.empty());
}

TEST(LogParserTest, LabelSpellings) {
  const std::string rest = "\tu\ti\tc\ti1\tc1";
  Sample s;
  for (const char* ok : {"0", "1", "0.0", "1.0", "1.00"}) {
    EXPECT_EQ(ParseDien(ok + rest, &s), LineError::kOk) << ok;
    EXPECT_EQ(s.label, ok[0] == '1' ? 1.0f : 0.0f);
  }
  for (const char* bad : {"", "2", "-1", "0.5", "1.", "yes", "01", "1e0", " 1"}) {
    EXPECT_EQ(ParseDien(bad + rest, &s), LineError::kBadLabel) << "'" << bad << "'";
  }
}

TEST(LogParserTest, EveryValidationRuleHasItsReason) {
  const std::string good = Tabs({"0", "u", "i", "c", Hist({"i1", "i2"}), Hist({"c1", "c2"})});
  struct Case {
    std::string line;
    LineError want;
  };
  const std::vector<Case> cases = {
      {Tabs({"0", "u", "i", "c", "i1"}), LineError::kColumnCount},
      {good + "\textra", LineError::kColumnCount},
      {Tabs({"3", "u", "i", "c", "i1", "c1"}), LineError::kBadLabel},
      {Tabs({"x", "u", "i", "c", "i1", "c1"}), LineError::kBadLabel},
      {Tabs({"0", "", "i", "c", "i1", "c1"}), LineError::kEmptyId},
      {Tabs({"0", "u", "", "c", "i1", "c1"}), LineError::kEmptyId},
      {Tabs({"0", "u", "i", "", "i1", "c1"}), LineError::kEmptyId},
      {Tabs({"0", "u", "i", "c", Hist({"i1", "", "i3"}), Hist({"c1", "c2", "c3"})}),
       LineError::kEmptyId},
      {Tabs({"0", "u", "i", "c", Hist({"i1", "i2"}), "c1"}), LineError::kHistoryMismatch},
      {Tabs({"0", "u", "i", "c", "", "c1"}), LineError::kHistoryMismatch},
      {good + "\r", LineError::kCarriageReturn},
      {std::string("0\tu\0x\ti\tc\ti1\tc1", 16), LineError::kNulByte},
      {Tabs({"0", "u\xff", "i", "c", "i1", "c1"}), LineError::kInvalidUtf8},
      {Tabs({"0", "u\xc3", "i", "c", "i1", "c1"}), LineError::kInvalidUtf8},       // cut
      {Tabs({"0", "u\xc0\xaf", "i", "c", "i1", "c1"}), LineError::kInvalidUtf8},   // overlong
      {Tabs({"0", "u\xed\xa0\x80", "i", "c", "i1", "c1"}), LineError::kInvalidUtf8},  // surrogate
      {Tabs({"0", "u\xf4\x90\x80\x80", "i", "c", "i1", "c1"}), LineError::kInvalidUtf8},  // >10FFFF
  };
  Sample s;
  EXPECT_EQ(ParseDien(good, &s), LineError::kOk);
  for (const Case& c : cases) {
    EXPECT_EQ(ParseDien(c.line, &s), c.want)
        << "want " << LineErrorName(c.want) << " for '" << c.line << "'";
  }
}

TEST(LogParserTest, MultibyteUtf8IdsAreValid) {
  Sample s;
  // 2-, 3- and 4-byte sequences, placed so they straddle the 8-byte words
  // of the ASCII fast path.
  const std::string id = "ab\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80z";
  ASSERT_EQ(ParseDien(Tabs({"1", id, "i", "c", "i1", "c1"}), &s), LineError::kOk);
  EXPECT_EQ(s.user_key, FeatureKey(kUserField, id));
}

TEST(LogParserTest, EmptyHistoryIsValid) {
  Sample s;
  s.item_history = {1, 2, 3};  // stale content from a previous line must go
  ASSERT_EQ(ParseDien(Tabs({"0", "u", "i", "c", "", ""}), &s), LineError::kOk);
  EXPECT_EQ(s.history_length(), 0);
  EXPECT_TRUE(s.category_history.empty());
}

TEST(LogParserTest, HistoryKeepsTheMostRecentMaxHistory) {
  std::vector<std::string> items, cats;
  for (int i = 0; i < 7; ++i) {
    items.push_back("i" + std::to_string(i));
    cats.push_back("c" + std::to_string(i));
  }
  Sample s;
  ASSERT_EQ(ParseDien(Tabs({"1", "u", "i", "c", Hist(items), Hist(cats)}), &s, 3),
            LineError::kOk);
  // Oldest first, so the most recent three are the last three.
  EXPECT_EQ(s.item_history, Keys(kItemField, {"i4", "i5", "i6"}));
  EXPECT_EQ(s.category_history, Keys(kCategoryField, {"c4", "c5", "c6"}));
  // An empty element among the dropped ones still makes the line malformed.
  items[0] = "";
  EXPECT_EQ(ParseDien(Tabs({"1", "u", "i", "c", Hist(items), Hist(cats)}), &s, 3),
            LineError::kEmptyId);
}

TEST(LogParserTest, V1HeaderWithShopAndExtras) {
  const std::string header =
      "#dips-v1\tlabel\tuser\titem\tcategory\tshop\titem_history\tcategory_history\t"
      "shop_history\tprofile:age\tcontext:hour";
  ASSERT_TRUE(IsHeaderLine(header));
  StatusOr<LogSchema> schema = ParseHeader(header);
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  EXPECT_TRUE(schema->has_shop);
  EXPECT_EQ(schema->extra_fields, (std::vector<std::string>{"profile:age", "context:hour"}));

  LogParser parser(*schema, 100);
  Sample s;
  std::string detail;
  ASSERT_EQ(parser.Parse(Tabs({"1", "u17", "i42", "c3", "s9", Hist({"i1", "i7"}),
                               Hist({"c3", "c1"}), Hist({"s9", "s2"}), "25-34", ""}),
                         &s, &detail),
            LineError::kOk)
      << detail;
  EXPECT_EQ(s.shop_key, FeatureKey(kShopField, "s9"));
  EXPECT_EQ(s.shop_history, Keys(kShopField, {"s9", "s2"}));
  // An empty profile/context value is that field's own "missing" id.
  EXPECT_EQ(s.extra_keys, (std::vector<uint64_t>{FeatureKey("profile:age", "25-34"),
                                                 FeatureKey("context:hour", "")}));
  EXPECT_EQ(parser.Parse(Tabs({"1", "u", "i", "c", "", Hist({"i1"}), Hist({"c1"}),
                               Hist({"s1"}), "a", "b"}),
                         &s, &detail),
            LineError::kEmptyId);
  EXPECT_EQ(parser.Parse(Tabs({"1", "u", "i", "c", "s", Hist({"i1"}), Hist({"c1"}),
                               Hist({"s1", "s2"}), "a", "b"}),
                         &s, &detail),
            LineError::kHistoryMismatch);
}

TEST(LogParserTest, V1HeaderWithoutShopEqualsTheDienSchema) {
  StatusOr<LogSchema> schema =
      ParseHeader("#dips-v1\tlabel\tuser\titem\tcategory\titem_history\tcategory_history");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(*schema, LogSchema());
}

TEST(LogParserTest, BadHeadersAreRejected) {
  const std::string base = "\tlabel\tuser\titem\tcategory\titem_history\tcategory_history";
  for (const std::string& h : std::vector<std::string>{
           "#dips-v2" + base,                                          // version
           "#dips-v1\tlabel\tuser\titem\titem_history\tcategory_history",  // missing column
           "#dips-v1\tlabel\tuser\titem\tcategory\tshop\titem_history\tcategory_history",
           "#dips-v1" + base + "\tshop_history",                       // shop_history alone
           "#dips-v1" + base + "\tage\tage",                           // duplicate
           "#dips-v1" + base + "\titem",                               // reserved name
           "#dips-v1" + base + "\tbad name",                           // character
           "#dips-v1" + base + "\t",                                   // empty name
           "#dips-v1" + base + "\r",                                   // CRLF
       }) {
    EXPECT_EQ(ParseHeader(h).status().code(), StatusCode::kInvalidArgument) << h;
  }
}

}  // namespace
}  // namespace dips
