// The whole path a user takes: `dips train` writes checkpoints, the export
// tool turns the newest into a serving bundle, and the predictor scores the
// test log with it. The predictor's scores must equal the trainer's own
// evaluation of that model (max abs difference <= 1e-5 with float32 rows),
// so the AUCs differ by no more than the share of (positive, negative) pairs
// whose scores are close enough for that difference to reorder them; a
// float16 bundle moves the test AUC by less than 0.001.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/train/toy_dataset.h"
#include "tools/bundle/export.h"
#include "tools/predictor/predictor.h"
#include "worker/data/log_reader.h"
#include "worker/train/metrics.h"
#include "worker/train/trainer.h"

namespace dips {
namespace {

class TrainerPredictorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/dips_trainer_predictor_XXXXXX";
    dir_ = mkdtemp(dir_template);
    WriteDataset(dir_ + "/train.txt", 4000, 21);
    WriteDataset(dir_ + "/test.txt", 1000, 22);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  // Every test sample, in file order.
  std::vector<Sample> TestSamples() {
    auto reader = LogReader::Open({dir_ + "/test.txt"}, ReaderOptions());
    EXPECT_TRUE(reader.ok());
    std::vector<Sample> samples;
    Sample sample;
    while (true) {
      auto more = (*reader)->Next(&sample);
      EXPECT_TRUE(more.ok());
      if (!more.ok() || !*more) break;
      samples.push_back(sample);
    }
    return samples;
  }

  std::string dir_;
};

double Auc(const std::vector<float>& probs, const std::vector<Sample>& samples) {
  MetricsAccumulator acc;
  std::vector<float> labels;
  std::vector<uint64_t> users;
  for (const Sample& s : samples) {
    labels.push_back(s.label);
    users.push_back(s.user_key);
  }
  acc.Add(probs.data(), labels.data(), users.data(), static_cast<int>(probs.size()));
  return acc.Compute().auc;
}

// The share of (positive, negative) pairs whose trainer scores lie within
// `window` of each other: the only pairs that scores moved by at most
// window / 2 each can reorder (or tie/untie), so the most the AUC can move.
double ShareOfPairsWithin(const std::vector<float>& probs, const std::vector<Sample>& samples,
                          double window) {
  std::vector<double> positives, negatives;  // double: p ± window is exact enough
  for (size_t i = 0; i < samples.size(); ++i) {
    (samples[i].label > 0.5f ? positives : negatives).push_back(probs[i]);
  }
  std::sort(negatives.begin(), negatives.end());
  double close_pairs = 0;
  for (double p : positives) {
    auto lo = std::lower_bound(negatives.begin(), negatives.end(), p - window);
    auto hi = std::upper_bound(negatives.begin(), negatives.end(), p + window);
    close_pairs += static_cast<double>(hi - lo);
  }
  return close_pairs / (static_cast<double>(positives.size()) * negatives.size());
}

TEST_F(TrainerPredictorTest, BundleScoresEqualTheTrainersEvaluation) {
  const std::vector<Sample> samples = TestSamples();
  ASSERT_EQ(1000u, samples.size());
  for (ModelKind kind : {ModelKind::kDin, ModelKind::kDien}) {
    SCOPED_TRACE(ModelKindName(kind));
    const std::string name = ModelKindName(kind);
    TrainerOptions o;
    o.model.kind = kind;
    o.model.embedding_dim = 8;
    o.train_files = {dir_ + "/train.txt"};
    o.test_files = {dir_ + "/test.txt"};
    o.epochs = 2;
    o.batch_size = 64;
    o.threads = 2;
    o.log_every_seconds = 1e9;
    o.checkpoint.dir = dir_ + "/ckpt_" + name;
    o.checkpoint.every_steps = 30;
    auto trainer = Trainer::Create(o);
    ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
    auto report = (*trainer)->Train();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    std::vector<float> trainer_probs;
    auto metrics = (*trainer)->EvaluateWithScores(&trainer_probs);
    ASSERT_TRUE(metrics.ok());
    ASSERT_EQ(samples.size(), trainer_probs.size());
    EXPECT_GT(metrics->auc, 0.7);

    double auc[2] = {0, 0};
    float fp32_max_diff = 0.0f;
    for (int fp16 = 0; fp16 < 2; ++fp16) {
      ExportOptions export_options;
      export_options.checkpoint = o.checkpoint.dir;
      export_options.out_dir = dir_ + "/bundle_" + name + (fp16 ? "_fp16" : "_fp32");
      export_options.precision = fp16 ? bundle::ROW_PRECISION_FP16 : bundle::ROW_PRECISION_FP32;
      auto exported = ExportBundle(export_options);
      ASSERT_TRUE(exported.ok()) << exported.status().ToString();
      auto predictor = Predictor::Open(export_options.out_dir, PredictorOptions());
      ASSERT_TRUE(predictor.ok()) << predictor.status().ToString();
      std::vector<float> probs;
      ASSERT_TRUE((*predictor)->Score(samples, &probs).ok());
      float max_diff = 0.0f;
      for (size_t i = 0; i < probs.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(probs[i] - trainer_probs[i]));
      }
      auc[fp16] = Auc(probs, samples);
      std::printf("%s %s bundle: max |p - trainer p| = %.3g, test AUC %.6f (trainer %.6f)\n",
                  name.c_str(), fp16 ? "fp16" : "fp32", max_diff, auc[fp16], metrics->auc);
      EXPECT_LE(max_diff, fp16 ? 1e-3f : 1e-5f);
      if (!fp16) fp32_max_diff = max_diff;
    }
    // Scores equal to float rounding may still reorder a near-tied pair
    // (seen in CI: one pair, 2e-6 of AUC); anything beyond those pairs is a bug.
    const double reorderable = ShareOfPairsWithin(trainer_probs, samples, 2.0 * fp32_max_diff);
    std::printf("%s: %.3g of pairs within %.3g of each other\n", name.c_str(), reorderable,
                2 * fp32_max_diff);
    EXPECT_LE(std::fabs(metrics->auc - auc[0]), reorderable + 1e-12);
    EXPECT_NEAR(auc[0], auc[1], 1e-3);
  }
}

}  // namespace
}  // namespace dips
