#include "worker/train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "worker/train/metrics_log.h"

namespace dips {
namespace {

// AUC by its definition: the fraction of (positive, negative) pairs ranked
// correctly, ties counting one half. O(n^2), for checking the rank formula.
double PairwiseAuc(const std::vector<float>& s, const std::vector<float>& y) {
  double good = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (y[i] < 0.5f) continue;
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[j] > 0.5f) continue;
      pairs += 1;
      good += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
    }
  }
  return good / pairs;
}

TEST(MetricsTest, AucMatchesPairwiseDefinitionWithTies) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> coarse(0, 9);  // many ties
  std::bernoulli_distribution label(0.3);
  std::vector<float> s(500), y(500);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = coarse(rng) / 10.0f;
    y[i] = label(rng) ? 1.0f : 0.0f;
  }
  EXPECT_NEAR(ComputeAuc(s.data(), y.data(), s.size()), PairwiseAuc(s, y), 1e-12);
}

TEST(MetricsTest, PerfectReversedAndSingleClass) {
  std::vector<float> s = {0.1f, 0.2f, 0.8f, 0.9f};
  std::vector<float> y = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(ComputeAuc(s.data(), y.data(), 4), 1.0);
  std::vector<float> r = {1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(ComputeAuc(s.data(), r.data(), 4), 0.0);
  std::vector<float> one = {1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(ComputeAuc(s.data(), one.data(), 4), 0.5);
}

TEST(MetricsTest, GaucWeightsUsersBySampleCountAndSkipsSingleLabelUsers) {
  MetricsAccumulator acc;
  // User 1: 4 samples, AUC 0.75 (pos scores .9 .3; neg .5 .1 -> 3 of 4 pairs).
  std::vector<float> p1 = {0.9f, 0.3f, 0.5f, 0.1f}, y1 = {1, 1, 0, 0};
  std::vector<uint64_t> u1(4, 1);
  // User 2: 2 samples, AUC 0 (pos .2 below neg .6).
  std::vector<float> p2 = {0.2f, 0.6f}, y2 = {1, 0};
  std::vector<uint64_t> u2(2, 2);
  // User 3: only positives: not in GAUC.
  std::vector<float> p3 = {0.4f, 0.7f}, y3 = {1, 1};
  std::vector<uint64_t> u3(2, 3);
  acc.Add(p1.data(), y1.data(), u1.data(), 4);
  acc.Add(p2.data(), y2.data(), u2.data(), 2);
  acc.Add(p3.data(), y3.data(), u3.data(), 2);
  EvalMetrics m = acc.Compute();
  EXPECT_EQ(m.samples, 8);
  EXPECT_EQ(m.positives, 5);
  EXPECT_EQ(m.gauc_users, 2);
  EXPECT_NEAR(m.gauc, (4 * 0.75 + 2 * 0.0) / 6.0, 1e-12);
  // Logloss from its definition.
  double expected = 0;
  std::vector<float> all_p = {0.9f, 0.3f, 0.5f, 0.1f, 0.2f, 0.6f, 0.4f, 0.7f};
  std::vector<float> all_y = {1, 1, 0, 0, 1, 0, 1, 1};
  for (size_t i = 0; i < all_p.size(); ++i) {
    expected -= all_y[i] > 0.5f ? std::log(double(all_p[i])) : std::log(1.0 - all_p[i]);
  }
  EXPECT_NEAR(m.logloss, expected / 8, 1e-9);
  EXPECT_NEAR(m.auc, PairwiseAuc(all_p, all_y), 1e-12);
}

TEST(MetricsTest, LoglossClipsCertainMistakes) {
  MetricsAccumulator acc;
  std::vector<float> p = {0.0f}, y = {1};
  std::vector<uint64_t> u = {1};
  acc.Add(p.data(), y.data(), u.data(), 1);
  EXPECT_NEAR(acc.Compute().logloss, -std::log(1e-7), 1e-9);
}

TEST(MetricsLogTest, JsonHasTheStableKeys) {
  MetricsRecord r;
  r.model = "din";
  r.step = 12;
  r.samples = 1536;
  r.metrics.auc = 0.75;
  const std::string json = MetricsRecordToJson(r);
  for (const char* key : {"\"model\":\"din\"", "\"step\":12", "\"samples\":1536",
                          "\"test_auc\":0.750000", "\"test_gauc\":", "\"test_logloss\":",
                          "\"train_samples_per_sec\":"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing in " << json;
  }
}

TEST(MetricsLogTest, OpenCreatesTheDirectoryAndAppendsNothing) {
  const std::string dir = ::testing::TempDir() + "metrics_log_test_" + std::to_string(::getpid());
  const std::string path = dir + "/a/b/metrics.jsonl";
  MetricsLog log(path);
  ASSERT_TRUE(log.Open().ok());
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  MetricsRecord r;
  r.model = "din";
  ASSERT_TRUE(log.Append(r).ok());
  ASSERT_TRUE(log.Open().ok());  // a second Open keeps what is there
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 1);
  std::filesystem::remove_all(dir);
}

TEST(MetricsLogTest, OpenFailsWhenTheDirectoryIsAFile) {
  const std::string file = ::testing::TempDir() + "metrics_log_file_" + std::to_string(::getpid());
  { std::ofstream(file) << "x"; }
  MetricsLog log(file + "/metrics.jsonl");
  const Status s = log.Open();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("--metrics_out"), std::string::npos) << s.ToString();
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace dips
