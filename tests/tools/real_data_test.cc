// Runs both converters on the public datasets in the shared data folder
// ($DIPS_SHARED_DATA, default /work/shared/data) when present; skips
// otherwise. Expected counts come from each dataset's SOURCE.md.
#include <stdlib.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "tools/amazon.h"
#include "tools/movielens.h"

namespace dips {
namespace {

using testing_tools::TempDir;

std::string DataDir(const std::string& dataset) {
  const char* env = getenv("DIPS_SHARED_DATA");
  std::string root = env != nullptr && *env != '\0' ? env : "/work/shared/data";
  return root + "/" + dataset;
}

TEST(RealDataTest, MovieLensLatestSmall) {
  const std::string dir = DataDir("movielens-latest-small");
  if (!std::filesystem::exists(dir + "/ratings.csv")) {
    GTEST_SKIP() << "no MovieLens data at " << dir << " (set DIPS_SHARED_DATA)";
  }
  TempDir out;
  MovieLensOptions o;
  o.ratings_path = dir + "/ratings.csv";
  o.movies_path = dir + "/movies.csv";
  o.train_path = out.File("train.txt");
  o.test_path = out.File("test.txt");
  StatusOr<DatasetSummary> s = ConvertMovieLens(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  PrintDatasetSummary(*s, stdout);
  // SOURCE.md: 100,836 ratings, 610 users (each >= 20 ratings), 9,724 rated
  // movies, 9,742 movies, 48,580 ratings >= 4.0, 20 genre values.
  EXPECT_EQ(s->records_read, 100836);
  EXPECT_EQ(s->records_skipped, 0);
  EXPECT_EQ(s->meta_records_read, 9742);
  EXPECT_EQ(s->users, 610);
  EXPECT_EQ(s->users_dropped, 0);
  EXPECT_EQ(s->items, 9724);
  EXPECT_EQ(s->items_without_category, 0);
  EXPECT_LE(s->categories, 20);
  EXPECT_GE(s->categories, 15);
  // One sample per rating except each user's first.
  EXPECT_EQ(s->train_samples + s->test_samples, 100836 - 610);
  const int64_t positives = s->train_positives + s->test_positives;
  EXPECT_LE(positives, 48580);
  EXPECT_GE(positives, 48580 - 610);
  // 20% of 610 users is 122; a hash split stays well within +-50.
  EXPECT_GT(s->test_users, 72);
  EXPECT_LT(s->test_users, 172);
}

TEST(RealDataTest, AmazonDigitalMusicTruncated) {
  const std::string dir = DataDir("amazon-digital-music-2014-truncated");
  const std::string reviews = dir + "/reviews_Digital_Music_5.json.gz";
  if (!std::filesystem::exists(reviews)) {
    GTEST_SKIP() << "no Amazon data at " << dir << " (set DIPS_SHARED_DATA)";
  }
  TempDir out;
  AmazonOptions o;
  o.reviews_path = reviews;
  o.meta_path = dir + "/meta_Digital_Music.json.gz";
  o.train_path = out.File("train.txt");
  o.test_path = out.File("test.txt");
  StatusOr<DatasetSummary> s = ConvertAmazon(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  PrintDatasetSummary(*s, stdout);
  // SOURCE.md: both gzip streams are cut; 6,908 complete review lines
  // (2,490 users, 382 items), 7,419 complete meta lines; every reviewed item
  // has metadata with categories (64 distinct leaf categories).
  EXPECT_TRUE(s->input_truncated);
  EXPECT_EQ(s->records_read, 6908);
  EXPECT_EQ(s->records_skipped, 0);
  EXPECT_EQ(s->meta_records_read + s->meta_records_skipped, 7419);
  EXPECT_EQ(s->items_without_category, 0);
  EXPECT_EQ(s->users + s->users_dropped, 2490);
  EXPECT_GT(s->users, 0);
  EXPECT_EQ(s->train_samples + s->test_samples, 2 * s->users);
  EXPECT_EQ(s->train_positives + s->test_positives, s->users);
  EXPECT_LE(s->items, 382);
  EXPECT_LE(s->categories, 64);
  // ~10% of users in test.
  EXPECT_GT(s->test_users, s->users / 20);
  EXPECT_LT(s->test_users, s->users / 5);
}

}  // namespace
}  // namespace dips
