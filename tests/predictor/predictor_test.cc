// Export + predictor: a bundle exported from a checkpoint scores samples
// exactly as the trainer's evaluation of that checkpoint does (DIN and
// DIEN, fp32), fp16 rows stay within a stated bound, min_count filtering
// serves filtered rows at their initial values, and damaged bundles are
// refused before anything is served.
#include "tools/predictor/predictor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "ps/checkpoint/checkpoint.h"
#include "tests/predictor/checkpoint_fixture.h"
#include "tools/bundle/bundle.h"
#include "tools/bundle/export.h"

namespace dips {
namespace {

using testing::Fixture;
using testing::FixtureOptions;

// fp16 keeps 11 significant bits: a row weight w is stored within
// |w| * 2^-11, about 5e-5 for the |w| < 0.1 rows here. Measured through the
// trained DIN/DIEN fixtures the probabilities move by about 1e-5 at most
// (printed below; docs/serving.md); the bound leaves a factor of ten.
constexpr float kFp16Tolerance = 1e-4f;

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

struct Exported {
  std::string dir;
  ExportReport report;
};

Exported Export(const std::string& checkpoint, bundle::RowPrecision precision,
                uint64_t min_count) {
  ExportOptions options;
  options.checkpoint = checkpoint;
  options.out_dir = testing::TempDir() + "/bundle";
  options.precision = precision;
  options.min_count = min_count;
  auto report = ExportBundle(options);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return {options.out_dir, report.ok() ? *report : ExportReport()};
}

std::vector<float> PredictorScores(const std::string& dir, int max_batch,
                                   const std::vector<Sample>& samples) {
  PredictorOptions options;
  options.max_batch = max_batch;
  auto predictor = Predictor::Open(dir, options);
  EXPECT_TRUE(predictor.ok()) << predictor.status().ToString();
  std::vector<float> probs;
  if (!predictor.ok()) return probs;
  Status scored = (*predictor)->Score(samples, &probs);
  EXPECT_TRUE(scored.ok()) << scored.ToString();
  return probs;
}

// A fixture checkpointed as a chain: full, then rows changed and an
// incremental checkpoint on top, so export must apply both in order.
struct Chain {
  Fixture fixture;
  std::string root;
};

Chain MakeChain(const FixtureOptions& options) {
  Chain chain;
  auto fixture = testing::MakeFixture(options);
  EXPECT_TRUE(fixture.ok()) << fixture.status().ToString();
  chain.fixture = std::move(fixture).value();
  chain.root = testing::TempDir();
  Fixture& f = chain.fixture;
  EXPECT_TRUE(testing::WriteFixtureCheckpoint(f, chain.root, "", -1).ok());
  const int64_t base_step = f.step;
  std::vector<Sample> some(f.test_samples.begin(), f.test_samples.begin() + 40);
  EXPECT_TRUE(testing::PerturbRows(some, &f).ok());
  EXPECT_TRUE(
      testing::WriteFixtureCheckpoint(f, chain.root, CheckpointName(base_step), base_step).ok());
  return chain;
}

class PredictorMatchesEvaluation : public ::testing::TestWithParam<ModelKind> {};

TEST_P(PredictorMatchesEvaluation, Fp32BundleScoresAsTheTrainerEvaluates) {
  FixtureOptions options;
  options.kind = GetParam();
  options.has_shop = GetParam() == ModelKind::kDien;  // both schemas covered
  options.extra_fields = GetParam() == ModelKind::kDien ? 2 : 1;
  Chain chain = MakeChain(options);
  const Fixture& f = chain.fixture;
  Exported bundle = Export(chain.root, bundle::ROW_PRECISION_FP32, 0);
  EXPECT_EQ(f.step, bundle.report.step);
  EXPECT_EQ(0u, bundle.report.rows_filtered);
  EXPECT_EQ(f.table->Stats().rows, bundle.report.rows);

  // Some test keys were never trained: they must be scored at their
  // initial values, as the evaluation's create_missing=false pull does.
  auto want = testing::ReferenceScores(f, f.test_samples, 64, 0);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  // Batching differs on purpose (7 vs 64): scores are per sample.
  const std::vector<float> got = PredictorScores(bundle.dir, 7, f.test_samples);
  EXPECT_LE(MaxAbsDiff(*want, got), 1e-5f);

  // A model that learnt something: scores are spread, not all equal.
  const auto [lo, hi] = std::minmax_element(got.begin(), got.end());
  EXPECT_GT(*hi - *lo, 0.05f);
}

TEST_P(PredictorMatchesEvaluation, Fp16BundleStaysWithinItsBound) {
  FixtureOptions options;
  options.kind = GetParam();
  Chain chain = MakeChain(options);
  Exported bundle = Export(chain.root, bundle::ROW_PRECISION_FP16, 0);
  auto want = testing::ReferenceScores(chain.fixture, chain.fixture.test_samples, 64, 0);
  ASSERT_TRUE(want.ok());
  const std::vector<float> got = PredictorScores(bundle.dir, 256, chain.fixture.test_samples);
  const float diff = MaxAbsDiff(*want, got);
  std::printf("%s fp16 bundle: max |p_fp16 - p_fp32| = %.3g over %zu samples\n",
              ModelKindName(GetParam()), diff, got.size());
  EXPECT_LE(diff, kFp16Tolerance);
  EXPECT_GT(diff, 0.0f);  // the rows really were rounded
  struct stat fp16_rows, fp32_rows;
  Exported full = Export(chain.root, bundle::ROW_PRECISION_FP32, 0);
  ASSERT_EQ(0, ::stat((bundle.dir + "/" + kBundleRowsName).c_str(), &fp16_rows));
  ASSERT_EQ(0, ::stat((full.dir + "/" + kBundleRowsName).c_str(), &fp32_rows));
  // 8 key bytes + 2 or 4 per weight.
  const double rows = static_cast<double>(full.report.rows);
  EXPECT_NEAR(fp32_rows.st_size - fp16_rows.st_size, rows * 2 * 18, 100.0);
}

TEST_P(PredictorMatchesEvaluation, MinCountServesFilteredRowsAtTheirInitialValues) {
  FixtureOptions options;
  options.kind = GetParam();
  options.items = 20000;  // ~2.6 draws per item: many rows below the threshold
  Chain chain = MakeChain(options);
  const uint64_t min_count = 3;
  Exported bundle = Export(chain.root, bundle::ROW_PRECISION_FP32, min_count);
  uint64_t rare = 0;
  chain.fixture.table->ForEachRow([&](const RowView& r) { rare += r.count < min_count; });
  ASSERT_GT(rare, 0u);
  EXPECT_EQ(rare, bundle.report.rows_filtered);
  EXPECT_EQ(chain.fixture.table->Stats().rows - rare, bundle.report.rows);
  auto want = testing::ReferenceScores(chain.fixture, chain.fixture.test_samples, 64, min_count);
  ASSERT_TRUE(want.ok());
  EXPECT_LE(MaxAbsDiff(*want, PredictorScores(bundle.dir, 32, chain.fixture.test_samples)),
            1e-5f);
}

INSTANTIATE_TEST_SUITE_P(Models, PredictorMatchesEvaluation,
                         ::testing::Values(ModelKind::kDin, ModelKind::kDien),
                         [](const auto& info) { return std::string(ModelKindName(info.param)); });

// One DIN fixture shared by the tests below (training it takes a moment).
class PredictorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FixtureOptions options;
    options.train_samples = 512;
    options.test_samples = 200;
    chain_ = new Chain(MakeChain(options));
  }
  static void TearDownTestSuite() { delete chain_; }
  static Chain* chain_;
};
Chain* PredictorTest::chain_ = nullptr;

TEST_F(PredictorTest, ExportsOneNamedCheckpointAndRefusesToOverwriteABundle) {
  // The older (full) checkpoint alone, named by its directory.
  auto names = ListCheckpoints(chain_->root);
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(2u, names->size());
  Exported older = Export(JoinPath(chain_->root, (*names)[0]), bundle::ROW_PRECISION_FP32, 0);
  EXPECT_LT(older.report.step, chain_->fixture.step);

  ExportOptions again;
  again.checkpoint = chain_->root;
  again.out_dir = older.dir;
  EXPECT_EQ(StatusCode::kFailedPrecondition, ExportBundle(again).status().code());
  again.out_dir = testing::TempDir() + "/b";
  again.checkpoint = testing::TempDir();  // no checkpoint there
  EXPECT_EQ(StatusCode::kNotFound, ExportBundle(again).status().code());
}

TEST_F(PredictorTest, SchemaMismatchIsRefusedAndLongHistoriesAreCut) {
  Exported bundle = Export(chain_->root, bundle::ROW_PRECISION_FP32, 0);
  auto predictor = Predictor::Open(bundle.dir, PredictorOptions());
  ASSERT_TRUE(predictor.ok());
  EXPECT_EQ(chain_->fixture.options.max_history, (*predictor)->max_history());
  std::vector<Sample> samples(chain_->fixture.test_samples.begin(),
                              chain_->fixture.test_samples.begin() + 3);
  std::vector<float> probs;
  samples[1].shop_history = samples[1].item_history;  // no shops in this schema
  samples[1].shop_history.push_back(1);
  EXPECT_EQ(StatusCode::kInvalidArgument, (*predictor)->Score(samples, &probs).code());
  samples[1] = chain_->fixture.test_samples[1];
  samples[1].extra_keys.push_back(1);
  EXPECT_EQ(StatusCode::kInvalidArgument, (*predictor)->Score(samples, &probs).code());

  // A history longer than max_history scores as its most recent part.
  Sample longer = chain_->fixture.test_samples[0];
  Sample cut = longer;
  for (int i = 0; i < 80; ++i) {
    longer.item_history.insert(longer.item_history.begin(), 1000 + i);
    longer.category_history.insert(longer.category_history.begin(), 2000 + i);
  }
  const int max_history = (*predictor)->max_history();
  cut.item_history.assign(longer.item_history.end() - max_history, longer.item_history.end());
  cut.category_history.assign(longer.category_history.end() - max_history,
                              longer.category_history.end());
  std::vector<float> long_prob, cut_prob;
  ASSERT_TRUE((*predictor)->Score({longer}, &long_prob).ok());
  ASSERT_TRUE((*predictor)->Score({cut}, &cut_prob).ok());
  EXPECT_EQ(cut_prob[0], long_prob[0]);

  // One sample with an empty history (a batch with T = 0), and no samples.
  Sample empty = chain_->fixture.test_samples[0];
  empty.item_history.clear();
  empty.category_history.clear();
  ASSERT_TRUE((*predictor)->Score({empty}, &probs).ok());
  EXPECT_TRUE(probs[0] > 0.0f && probs[0] < 1.0f);
  ASSERT_TRUE((*predictor)->Score(std::vector<Sample>(), &probs).ok());
  EXPECT_TRUE(probs.empty());
}

TEST_F(PredictorTest, ConcurrentCallersGetTheSameScores) {
  Exported bundle = Export(chain_->root, bundle::ROW_PRECISION_FP32, 0);
  auto predictor = Predictor::Open(bundle.dir, PredictorOptions());
  ASSERT_TRUE(predictor.ok());
  std::vector<float> want;
  ASSERT_TRUE((*predictor)->Score(chain_->fixture.test_samples, &want).ok());
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) {
        if (!(*predictor)->Score(chain_->fixture.test_samples, &got[t]).ok()) got[t].clear();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(want, g);
}

void FlipByte(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.read(&c, 1);
  c ^= 0x10;
  f.seekp(offset);
  f.write(&c, 1);
}

long FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST_F(PredictorTest, DamagedBundlesAreRefused) {
  for (const char* file : {kBundleRowsName, kBundleDenseName, kBundleManifestName}) {
    SCOPED_TRACE(file);
    Exported bundle = Export(chain_->root, bundle::ROW_PRECISION_FP16, 0);
    const std::string path = bundle.dir + "/" + file;
    for (long offset : {0L, FileSize(path) / 2, FileSize(path) - 1}) {
      FlipByte(path, offset);
      auto opened = Predictor::Open(bundle.dir, PredictorOptions());
      EXPECT_EQ(StatusCode::kCorruption, opened.status().code()) << offset;
      EXPECT_NE(std::string::npos, opened.status().message().find(file))
          << opened.status().ToString();
      FlipByte(path, offset);  // repaired
    }
    ASSERT_TRUE(Predictor::Open(bundle.dir, PredictorOptions()).ok());
    ASSERT_EQ(0, ::truncate(path.c_str(), FileSize(path) - 3));
    EXPECT_EQ(StatusCode::kCorruption,
              Predictor::Open(bundle.dir, PredictorOptions()).status().code());
  }
  Exported bundle = Export(chain_->root, bundle::ROW_PRECISION_FP32, 0);
  ASSERT_EQ(0, ::unlink((bundle.dir + "/" + kBundleRowsName).c_str()));
  EXPECT_EQ(StatusCode::kCorruption,
            Predictor::Open(bundle.dir, PredictorOptions()).status().code());
  ASSERT_EQ(0, ::unlink((bundle.dir + "/" + kBundleManifestName).c_str()));
  EXPECT_EQ(StatusCode::kNotFound, Predictor::Open(bundle.dir, PredictorOptions()).status().code());
  EXPECT_EQ(StatusCode::kNotFound,
            Predictor::Open(testing::TempDir(), PredictorOptions()).status().code());
}

TEST_F(PredictorTest, ADamagedCheckpointIsNotExported) {
  const std::string root = testing::TempDir();
  ASSERT_TRUE(testing::WriteFixtureCheckpoint(chain_->fixture, root, "", -1).ok());
  const std::string dir = JoinPath(root, CheckpointName(chain_->fixture.step));
  FlipByte(JoinPath(dir, kDenseFileName), 40);
  ExportOptions options;
  options.checkpoint = dir;
  options.out_dir = testing::TempDir() + "/b";
  EXPECT_EQ(StatusCode::kCorruption, ExportBundle(options).status().code());
  struct stat st;
  EXPECT_NE(0, ::stat(JoinPath(options.out_dir, kBundleManifestName).c_str(), &st));
}

}  // namespace
}  // namespace dips
