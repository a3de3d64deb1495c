#include "tools/movielens.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "tools/csv.h"
#include "tools/user_split.h"

namespace dips {
namespace {

using testing_tools::ReadFile;
using testing_tools::ReadLines;
using testing_tools::Split;
using testing_tools::TempDir;
using testing_tools::WriteFile;
using testing_tools::WriteGzipFile;

// Titles with commas and doubled quotes; movie 99 is rated but unknown.
constexpr char kMovies[] =
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
    "29,\"City of Lost Children, The (Cit\xC3\xA9 des enfants perdus, La) (1995)\",Fantasy|Mystery\n"
    "40,\"Say \"\"Hi\"\", Again (2000)\",Drama\n"
    "50,Nothing (2001),(no genres listed)\n";

// User 1 is out of time order in the file and has a timestamp tie (29 and 40
// at 200, 29 first in the file); user 3 has one rating; two lines are bad.
constexpr char kRatings[] =
    "userId,movieId,rating,timestamp\n"
    "1,11,4.0,300\n"
    "1,1,3.5,100\n"
    "1,29,5.0,200\n"
    "1,40,2.0,200\n"
    "2,1,4.0,50\n"
    "2,99,1.0,60\n"
    "3,1,5.0,10\n"
    "bad,line\n"
    "4,1,abc,5\n";

// A DIEN line built from its parts, histories joined by 0x02.
std::string Line(int label, const std::string& user, const std::string& item,
                 const std::string& category, const std::vector<std::string>& item_history,
                 const std::vector<std::string>& category_history) {
  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? "\x02" : "") + parts[i];
    return out;
  };
  return std::to_string(label) + "\t" + user + "\t" + item + "\t" + category + "\t" +
         join(item_history) + "\t" + join(category_history);
}

// Expected output by hand. User 1 by time: 1 (t=100, 3.5), 29 (200, 5.0),
// 40 (200, 2.0; after 29 by file order), 11 (300, 4.0). Each rating after the
// first is a sample, label = rating >= 4, category = first genre.
std::vector<std::string> ExpectedLines(int max_history) {
  std::vector<std::string> lines = {
      Line(1, "1", "29", "Fantasy", {"1"}, {"Adventure"}),
      Line(0, "1", "40", "Drama", {"1", "29"}, {"Adventure", "Fantasy"}),
      Line(1, "1", "11", "Comedy", {"1", "29", "40"}, {"Adventure", "Fantasy", "Drama"}),
      Line(0, "2", "99", "default_cat", {"1"}, {"Adventure"}),
  };
  if (max_history == 2) {
    lines[2] = Line(1, "1", "11", "Comedy", {"29", "40"}, {"Fantasy", "Drama"});
  }
  return lines;
}

MovieLensOptions Fixture(const TempDir& dir) {
  WriteFile(dir.File("ratings.csv"), kRatings);
  WriteFile(dir.File("movies.csv"), kMovies);
  MovieLensOptions o;
  o.ratings_path = dir.File("ratings.csv");
  o.movies_path = dir.File("movies.csv");
  o.train_path = dir.File("train.txt");
  o.test_path = dir.File("test.txt");
  return o;
}

TEST(CsvTest, QuotedFieldsWithCommasAndQuotes) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("40,\"Say \"\"Hi\"\", Again (2000)\",Drama", &f));
  EXPECT_EQ(f, (std::vector<std::string>{"40", "Say \"Hi\", Again (2000)", "Drama"}));
  ASSERT_TRUE(SplitCsvLine("a,,b,\r", &f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "", "b", ""}));
  ASSERT_TRUE(SplitCsvLine("x,5\" vinyl", &f));  // stray quote in an unquoted field
  EXPECT_EQ(f[1], "5\" vinyl");
  EXPECT_FALSE(SplitCsvLine("1,\"open,Drama", &f));
  EXPECT_FALSE(SplitCsvLine("1,\"closed\"junk,Drama", &f));
}

TEST(MovieLensTest, DinProtocolByHand) {
  TempDir dir;
  MovieLensOptions o = Fixture(dir);
  o.test_fraction = 0.0;  // everything in train: checks the lines themselves
  StatusOr<DatasetSummary> s = ConvertMovieLens(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(ReadLines(o.train_path), ExpectedLines(100));
  EXPECT_TRUE(ReadLines(o.test_path).empty());
  EXPECT_EQ(s->records_read, 7);
  EXPECT_EQ(s->records_skipped, 2);
  EXPECT_EQ(s->meta_records_read, 5);
  EXPECT_EQ(s->users, 2);
  EXPECT_EQ(s->users_dropped, 1);  // user 3: a single rating
  EXPECT_EQ(s->train_samples, 4);
  EXPECT_EQ(s->train_positives, 2);
  EXPECT_EQ(s->items, 5);       // 1, 11, 29, 40, 99
  EXPECT_EQ(s->categories, 5);  // Adventure, Comedy, Fantasy, Drama, default_cat
  EXPECT_EQ(s->items_without_category, 1);  // 99
  EXPECT_EQ(s->history_behaviours, 1 + 2 + 3 + 1);
}

TEST(MovieLensTest, HistoryKeepsMostRecent) {
  TempDir dir;
  MovieLensOptions o = Fixture(dir);
  o.test_fraction = 0.0;
  o.max_history = 2;
  ASSERT_TRUE(ConvertMovieLens(o).ok());
  EXPECT_EQ(ReadLines(o.train_path), ExpectedLines(2));
}

TEST(MovieLensTest, UserSplitFollowsSeededHash) {
  TempDir dir;
  MovieLensOptions o = Fixture(dir);
  o.test_fraction = 1.0;
  ASSERT_TRUE(ConvertMovieLens(o).ok());
  EXPECT_TRUE(ReadLines(o.train_path).empty());
  EXPECT_EQ(ReadLines(o.test_path), ExpectedLines(100));

  // Half split: every user lands where IsTestUser says, for several seeds.
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    o.test_fraction = 0.5;
    o.seed = seed;
    ASSERT_TRUE(ConvertMovieLens(o).ok());
    std::vector<std::string> expected_train, expected_test;
    for (const std::string& line : ExpectedLines(100)) {
      const std::string user = Split(line, '\t')[1];
      (IsTestUser(user, seed, 0.5) ? expected_test : expected_train).push_back(line);
    }
    EXPECT_EQ(ReadLines(o.train_path), expected_train) << "seed " << seed;
    EXPECT_EQ(ReadLines(o.test_path), expected_test) << "seed " << seed;
  }
}

TEST(MovieLensTest, GzipInAndOut) {
  TempDir dir;
  MovieLensOptions o = Fixture(dir);
  WriteGzipFile(dir.File("ratings.csv.gz"), kRatings);
  o.ratings_path = dir.File("ratings.csv.gz");
  o.train_path = dir.File("train.txt.gz");
  o.test_path = dir.File("test.txt.gz");
  o.test_fraction = 0.0;
  ASSERT_TRUE(ConvertMovieLens(o).ok());
  const std::string raw = ReadFile(o.train_path);  // gunzips
  EXPECT_EQ(ReadLines(o.train_path), ExpectedLines(100));
  // The output file itself is gzip: it starts with the magic bytes 1f 8b.
  std::FILE* f = std::fopen(o.train_path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  unsigned char magic[2] = {0, 0};
  ASSERT_EQ(std::fread(magic, 1, 2, f), 2u);
  std::fclose(f);
  EXPECT_EQ(magic[0], 0x1f);
  EXPECT_EQ(magic[1], 0x8b);
  EXPECT_FALSE(raw.empty());
}

TEST(MovieLensTest, MissingInputIsAnError) {
  TempDir dir;
  MovieLensOptions o = Fixture(dir);
  o.ratings_path = dir.File("nope.csv");
  StatusOr<DatasetSummary> s = ConvertMovieLens(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("nope.csv"), std::string::npos) << s.status().ToString();
}

}  // namespace
}  // namespace dips
