#include "tools/amazon.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "tools/random.h"

namespace dips {
namespace {

using testing_tools::ReadLines;
using testing_tools::Split;
using testing_tools::TempDir;
using testing_tools::WriteFile;
using testing_tools::WriteGzipFile;

// A1 by time: I2 (100), I3 (200), I1 (300) -> target I1, history I2 I3.
// A2 by time: I3 (100), I1 (150), I4 (400) -> target I4, history I3 I1.
// A3 has one review (dropped); the A4 line is not JSON (malformed).
constexpr char kReviews[] =
    "{\"reviewerID\": \"A1\", \"asin\": \"I1\", \"unixReviewTime\": 300, \"overall\": 5.0}\n"
    "{\"reviewerID\": \"A1\", \"asin\": \"I2\", \"reviewText\": \"a \\\"quote\\\"\", "
    "\"unixReviewTime\": 100}\n"
    "{\"reviewerID\": \"A2\", \"asin\": \"I3\", \"unixReviewTime\": 100}\n"
    "{\"reviewerID\": \"A1\", \"asin\": \"I3\", \"unixReviewTime\": 200}\n"
    "{\"reviewerID\": \"A2\", \"asin\": \"I1\", \"unixReviewTime\": 150}\n"
    "{\"reviewerID\": \"A3\", \"asin\": \"I2\", \"unixReviewTime\": 100}\n"
    "{\"reviewerID\": \"A4\", \"asin\": I5, \"unixReviewTime\": 100}\n"
    "{\"reviewerID\": \"A2\", \"asin\": \"I4\", \"unixReviewTime\": 400}\n";

// I1 -> Rock (first path's last element), I2 -> Bebop, I3 has no category
// path and I4 no metadata: both default_cat. One record is not a literal.
constexpr char kMeta[] =
    "{'asin': 'I1', 'title': 'It\\'s \"x\"', 'categories': [['Music', 'Rock'], ['Music', 'Pop']]}\n"
    "{'asin': 'I2', 'related': {'also_bought': ['I1']}, 'price': 9.99, "
    "'categories': [['CDs & Vinyl', 'Jazz', 'Bebop']]}\n"
    "{'asin': 'I3', 'categories': [], 'salesRank': {'Music': 12}}\n"
    "{'asin': 'I9', 'categories': [['Broken'\n";

const std::map<std::string, std::string> kCategory = {
    {"I1", "Rock"}, {"I2", "Bebop"}, {"I3", "default_cat"}, {"I4", "default_cat"}};

struct UserLines {
  std::string history_items, history_categories;
  std::string positive_item, negative_item;
};

AmazonOptions Fixture(const TempDir& dir) {
  WriteFile(dir.File("reviews.json"), kReviews);
  WriteFile(dir.File("meta.json"), kMeta);
  AmazonOptions o;
  o.reviews_path = dir.File("reviews.json");
  o.meta_path = dir.File("meta.json");
  o.train_path = dir.File("train.txt");
  o.test_path = dir.File("test.txt");
  o.test_fraction = 0.0;
  return o;
}

// Checks each user's positive/negative pair and returns them by user.
std::map<std::string, UserLines> CheckPairs(const std::vector<std::string>& lines) {
  std::map<std::string, UserLines> users;
  EXPECT_EQ(lines.size() % 2, 0u);
  for (size_t i = 0; i + 1 < lines.size(); i += 2) {
    std::vector<std::string> pos = Split(lines[i], '\t');
    std::vector<std::string> neg = Split(lines[i + 1], '\t');
    EXPECT_EQ(pos.size(), 6u);
    EXPECT_EQ(neg.size(), 6u);
    if (pos.size() != 6 || neg.size() != 6) continue;
    EXPECT_EQ(pos[0], "1");
    EXPECT_EQ(neg[0], "0");
    EXPECT_EQ(pos[1], neg[1]);                       // same user
    EXPECT_EQ(pos[4], neg[4]);                       // same item history
    EXPECT_EQ(pos[5], neg[5]);                       // same category history
    EXPECT_NE(pos[2], neg[2]);                       // negative != target
    EXPECT_EQ(kCategory.at(pos[2]), pos[3]);
    EXPECT_EQ(kCategory.at(neg[2]), neg[3]);         // negative's own category
    users[pos[1]] = UserLines{pos[4], pos[5], pos[2], neg[2]};
  }
  return users;
}

TEST(AmazonTest, DienPreparationByHand) {
  TempDir dir;
  AmazonOptions o = Fixture(dir);
  StatusOr<DatasetSummary> s = ConvertAmazon(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::map<std::string, UserLines> users = CheckPairs(ReadLines(o.train_path));
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users["A1"].positive_item, "I1");
  EXPECT_EQ(users["A1"].history_items, "I2\x02I3");
  EXPECT_EQ(users["A1"].history_categories, "Bebop\x02" "default_cat");
  EXPECT_EQ(users["A2"].positive_item, "I4");
  EXPECT_EQ(users["A2"].history_items, "I3\x02I1");
  EXPECT_EQ(users["A2"].history_categories, "default_cat\x02Rock");
  EXPECT_EQ(s->records_read, 7);
  EXPECT_EQ(s->records_skipped, 1);
  EXPECT_EQ(s->meta_records_read, 3);
  EXPECT_EQ(s->meta_records_skipped, 1);
  EXPECT_EQ(s->users_dropped, 1);
  EXPECT_EQ(s->users, 2);
  EXPECT_EQ(s->train_samples, 4);
  EXPECT_EQ(s->train_positives, 2);
  EXPECT_EQ(s->items_without_category, 2);  // I3 (empty paths), I4 (no meta)
  EXPECT_FALSE(s->input_truncated);
}

TEST(AmazonTest, HistoryKeepsMostRecent) {
  TempDir dir;
  AmazonOptions o = Fixture(dir);
  o.max_history = 1;
  ASSERT_TRUE(ConvertAmazon(o).ok());
  std::map<std::string, UserLines> users = CheckPairs(ReadLines(o.train_path));
  EXPECT_EQ(users["A1"].history_items, "I3");
  EXPECT_EQ(users["A2"].history_items, "I1");
}

TEST(AmazonTest, TruncatedGzipKeepsCompleteRecords) {
  TempDir dir;
  AmazonOptions o = Fixture(dir);
  // After the fixture, one review with a long incompressible text, so the
  // cut lands inside it: every fixture record is complete, that one is not.
  std::string tail = "{\"reviewerID\": \"A1\", \"asin\": \"I4\", \"unixReviewTime\": 999, "
                     "\"reviewText\": \"";
  Rng rng(7);
  for (int i = 0; i < 200000; ++i) tail.push_back(static_cast<char>('a' + rng.Below(26)));
  tail += "\"}\n";
  const std::string full = std::string(kReviews) + tail;
  WriteGzipFile(dir.File("reviews.json.gz"), full);
  long complete_size = static_cast<long>(testing_tools::ReadFile(dir.File("reviews.json.gz")).size());
  ASSERT_EQ(complete_size, static_cast<long>(full.size()));
  // Keep half of the compressed stream: random text compresses to ~60%, so
  // half the stream ends well inside the long record.
  std::FILE* f = std::fopen(dir.File("reviews.json.gz").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 0, SEEK_END);
  long compressed = std::ftell(f);
  std::fclose(f);
  WriteGzipFile(dir.File("reviews.json.gz"), full, compressed / 2);
  o.reviews_path = dir.File("reviews.json.gz");

  StatusOr<DatasetSummary> s = ConvertAmazon(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->input_truncated);
  EXPECT_EQ(s->records_read, 7);     // all complete fixture records
  EXPECT_EQ(s->records_skipped, 1);  // the malformed one; the cut one is not a record
  std::map<std::string, UserLines> users = CheckPairs(ReadLines(o.train_path));
  EXPECT_EQ(users["A1"].positive_item, "I1");  // the cut review (I4 at 999) is gone
}

TEST(AmazonTest, NegativesAreSeededAndDrawnFromThePool) {
  TempDir dir;
  AmazonOptions o = Fixture(dir);
  ASSERT_TRUE(ConvertAmazon(o).ok());
  const std::vector<std::string> first = ReadLines(o.train_path);
  ASSERT_TRUE(ConvertAmazon(o).ok());
  EXPECT_EQ(ReadLines(o.train_path), first);  // same seed, same negatives

  // Over many seeds every item except the target shows up as a negative, and
  // the target never does.
  for (NegativePool pool : {NegativePool::kReviewRecords, NegativePool::kDistinctItems}) {
    std::set<std::string> negatives_of_a1;
    o.negative_pool = pool;
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      o.seed = seed;
      ASSERT_TRUE(ConvertAmazon(o).ok());
      std::map<std::string, UserLines> users = CheckPairs(ReadLines(o.train_path));
      negatives_of_a1.insert(users["A1"].negative_item);
    }
    EXPECT_EQ(negatives_of_a1, (std::set<std::string>{"I2", "I3", "I4"}));
  }
}

TEST(AmazonTest, NeedsTwoDistinctItems) {
  TempDir dir;
  AmazonOptions o = Fixture(dir);
  WriteFile(o.reviews_path,
            "{\"reviewerID\": \"A1\", \"asin\": \"I1\", \"unixReviewTime\": 1}\n"
            "{\"reviewerID\": \"A1\", \"asin\": \"I1\", \"unixReviewTime\": 2}\n");
  EXPECT_EQ(ConvertAmazon(o).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dips
