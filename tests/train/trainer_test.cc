// End-to-end tests of the single-process trainer on a small learnable
// dataset written by the test itself: a user's history comes from two
// favourite categories; the label is mostly 1 when the target's category is
// one of them and mostly 0 otherwise, so a working model must rank well.
#include "worker/train/trainer.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/train/toy_dataset.h"

namespace dips {
namespace {

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/dips_trainer_test_XXXXXX";
    dir_ = mkdtemp(dir_template);
    WriteDataset(dir_ + "/train.txt", 6000, 1);
    WriteDataset(dir_ + "/test.txt", 1500, 2);
  }
  void TearDown() override {
    std::remove((dir_ + "/train.txt").c_str());
    std::remove((dir_ + "/test.txt").c_str());
    std::remove((dir_ + "/metrics.jsonl").c_str());
    rmdir(dir_.c_str());
  }

  TrainerOptions Options(ModelKind kind, int threads) {
    TrainerOptions o;
    o.model.kind = kind;
    o.model.embedding_dim = 8;
    o.train_files = {dir_ + "/train.txt"};
    o.test_files = {dir_ + "/test.txt"};
    o.epochs = 2;
    o.batch_size = 64;
    o.threads = threads;
    o.seed = 5;
    o.log_every_seconds = 1e9;
    return o;
  }

  TrainReport Run(const TrainerOptions& o) {
    auto trainer = Trainer::Create(o);
    EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
    auto report = (*trainer)->Train();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return *report;
  }

  std::string dir_;
};

TEST_F(TrainerTest, DinLearnsAndOneThreadRunsAreIdentical) {
  TrainerOptions o = Options(ModelKind::kDin, 1);
  o.metrics_out = dir_ + "/metrics.jsonl";
  TrainReport a = Run(o);
  TrainReport b = Run(o);
  std::printf("DIN 1 thread: auc %.4f gauc %.4f logloss %.4f, %.0f samples/s\n",
              a.final_metrics.auc, a.final_metrics.gauc, a.final_metrics.logloss,
              a.samples_per_second);
  // The label is 90/10 predictable from the category match: AUC near 0.8+.
  EXPECT_GT(a.final_metrics.auc, 0.75);
  EXPECT_EQ(a.final_metrics.samples, 1500);
  EXPECT_EQ(a.samples, 2 * 6000);
  EXPECT_EQ(a.final_metrics.auc, b.final_metrics.auc);
  EXPECT_EQ(a.final_metrics.gauc, b.final_metrics.gauc);
  EXPECT_EQ(a.final_metrics.logloss, b.final_metrics.logloss);
  EXPECT_EQ(a.final_train_loss, b.final_train_loss);
  // The rate divides by the steps' wall time, of which handing out the
  // batches is a part.
  EXPECT_GT(a.feed_seconds, 0.0);
  EXPECT_LT(a.feed_seconds, a.train_seconds);
  EXPECT_DOUBLE_EQ(a.samples_per_second, a.samples / a.train_seconds);
  // Two passes, each starting with a wait while its shuffle buffer fills:
  // part of the feed time, and left out of the steady rate only.
  EXPECT_GT(a.pass_start_seconds, 0.0);
  EXPECT_LE(a.pass_start_seconds, a.feed_seconds);
  EXPECT_DOUBLE_EQ(a.steady_samples_per_second,
                   a.samples / (a.train_seconds - a.pass_start_seconds));
  EXPECT_GT(a.steady_samples_per_second, a.samples_per_second);
  // Two runs x two epochs = four JSON lines.
  std::ifstream metrics(o.metrics_out);
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    EXPECT_NE(line.find("\"test_auc\""), std::string::npos);
    ++lines;
  }
  EXPECT_EQ(lines, 4);
}

TEST_F(TrainerTest, AllModelsLearnWithTwoReplicaThreads) {
  for (ModelKind kind : {ModelKind::kBase, ModelKind::kDin, ModelKind::kDien}) {
    TrainReport r = Run(Options(kind, 2));
    std::printf("%s 2 threads: auc %.4f gauc %.4f, %.0f samples/s\n", ModelKindName(kind),
                r.final_metrics.auc, r.final_metrics.gauc, r.samples_per_second);
    EXPECT_GT(r.final_metrics.auc, 0.75) << ModelKindName(kind);
    EXPECT_EQ(r.samples, 2 * 6000);
  }
}

// An unset strength trains as the model's default does, and that default
// differs between the models (else the per-model choice is not wired up).
TEST_F(TrainerTest, UnsetMbaLambdaIsTheModelsDefault) {
  EXPECT_NE(DefaultMbaLambda(ModelKind::kDin), DefaultMbaLambda(ModelKind::kDien));
  for (ModelKind kind : {ModelKind::kDin, ModelKind::kDien}) {
    TrainerOptions o = Options(kind, 1);
    o.epochs = 1;
    o.max_steps = 20;
    o.test_files.clear();
    ASSERT_LT(o.mba_lambda, 0.0f);
    const TrainReport unset = Run(o);
    o.mba_lambda = DefaultMbaLambda(kind);
    const TrainReport explicit_default = Run(o);
    o.mba_lambda = DefaultMbaLambda(kind == ModelKind::kDin ? ModelKind::kDien : ModelKind::kDin);
    const TrainReport other = Run(o);
    EXPECT_EQ(unset.final_train_loss, explicit_default.final_train_loss) << ModelKindName(kind);
    EXPECT_NE(unset.final_train_loss, other.final_train_loss) << ModelKindName(kind);
  }
}

TEST_F(TrainerTest, ExternalStoreWithBoundedStalenessLearnsAndFillsTheTable) {
  SparseTableOptions table_options = DefaultTable();
  table_options.dim = 8;
  auto table = SparseTable::Create(table_options);
  ASSERT_TRUE(table.ok());
  std::unique_ptr<EmbeddingStore> store = NewTableStore(table->get(), table_options.optimizer.kind);
  TrainerOptions o = Options(ModelKind::kDin, 2);
  o.store = store.get();
  o.max_staleness = 3;
  TrainReport r = Run(o);
  EXPECT_GT(r.final_metrics.auc, 0.75);
  // Every training key went through the external store: all 200 items and
  // 10 categories of the data were created there (a trainer-owned table
  // would have left it empty).
  EXPECT_EQ((*table)->Stats().rows, static_cast<uint64_t>(kItems + kCategories));
}

// With max_staleness >= 1 each batch's rows are pulled during the step
// before it: every sample is still trained exactly once per epoch, in the
// same batches, the table ends with every key's row updated as many times
// as without prefetching, and the model learns as well.
TEST_F(TrainerTest, PrefetchedRowsTrainEveryBatchOnce) {
  uint64_t updates[2] = {0, 0};
  for (int prefetch = 0; prefetch < 2; ++prefetch) {
    SparseTableOptions table_options = DefaultTable();
    table_options.dim = 8;
    auto table = SparseTable::Create(table_options);
    ASSERT_TRUE(table.ok());
    std::unique_ptr<EmbeddingStore> store =
        NewTableStore(table->get(), table_options.optimizer.kind);
    TrainerOptions o = Options(ModelKind::kDin, 2);
    o.store = store.get();
    o.max_staleness = 1;
    o.prefetch_rows = prefetch == 1;
    TrainReport r = Run(o);
    EXPECT_EQ(2 * 6000, r.samples) << "prefetch " << prefetch;
    EXPECT_GT(r.final_metrics.auc, 0.75) << "prefetch " << prefetch;
    (*table)->ForEachRow([&](const RowView& row) { updates[prefetch] += row.update_count; });
  }
  EXPECT_EQ(updates[0], updates[1]);
}

// An in-process table that claims what the parameter servers' store does,
// that PushThenPull saves round trips, so the trainer sends its pushes with
// its prefetches; it counts the calls of each kind.
class PushWithPullStore : public EmbeddingStore {
 public:
  explicit PushWithPullStore(EmbeddingStore* table) : table_(table) {}
  uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                uint64_t* counts) override {
    ++pulls;
    return table_->Pull(keys, n, create_missing, values, counts);
  }
  uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                const uint32_t* occurrences, int64_t step) override {
    ++pushes;
    return table_->Push(keys, n, grads, occurrences, step);
  }
  PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) override {
    ++push_then_pulls;
    return table_->PushThenPull(push, pull);
  }
  bool PushThenPullSavesRoundTrips() const override { return true; }
  Status Wait(uint64_t ticket) override { return table_->Wait(ticket); }
  StatusOr<std::vector<ShardCheckpoint>> SaveRows(const std::string& root,
                                                  const std::string& name,
                                                  int64_t since_step) override {
    return table_->SaveRows(root, name, since_step);
  }
  int pulls = 0, pushes = 0, push_then_pulls = 0;

 private:
  EmbeddingStore* const table_;
};

// Pushes sent with the next prefetch train as pushes sent apart: on one
// replica thread the same table calls in the same order, so bit for bit;
// on two, every batch's push applied once. Evaluations every 37 steps and
// the passes' ends make the trainer send held-back pushes alone.
TEST_F(TrainerTest, PushesSentWithPullsTrainAsPushesSentApart) {
  for (int threads : {1, 2}) {
    std::map<uint64_t, std::vector<float>> rows[2];
    int64_t updates[2] = {0, 0};
    TrainReport reports[2];
    for (int with_pull = 0; with_pull < 2; ++with_pull) {
      SCOPED_TRACE(testing::Message() << threads << " threads, push_with_pull " << with_pull);
      SparseTableOptions table_options = DefaultTable();
      table_options.dim = 8;
      auto table = SparseTable::Create(table_options).value();
      std::unique_ptr<EmbeddingStore> inner =
          NewTableStore(table.get(), table_options.optimizer.kind);
      PushWithPullStore store(inner.get());
      TrainerOptions o = Options(ModelKind::kDin, threads);
      o.store = &store;
      o.max_staleness = 1;
      o.push_with_pull = with_pull == 1;
      o.eval_every_steps = 37;
      // Two replicas take a step per two batches: twice the passes give them
      // as many steps as one replica takes (in two passes they reached only
      // about 0.75 AUC, one replica 0.84).
      o.epochs = 2 * threads;
      reports[with_pull] = Run(o);
      EXPECT_GT(reports[with_pull].final_metrics.auc, 0.75);
      if (with_pull == 1) {
        EXPECT_GT(store.push_then_pulls, 0);
        EXPECT_GT(store.pushes, 0);  // sent alone before evaluations and at the ends
        EXPECT_LT(store.pushes, store.push_then_pulls);
      } else {
        EXPECT_EQ(store.push_then_pulls, 0);
      }
      table->ForEachRow([&](const RowView& row) {
        updates[with_pull] += row.update_count;
        rows[with_pull][row.key].assign(row.weights, row.weights + table_options.dim);
      });
    }
    SCOPED_TRACE(testing::Message() << threads << " threads");
    EXPECT_EQ(updates[0], updates[1]);
    EXPECT_EQ(reports[0].samples, reports[1].samples);
    if (threads == 1) {
      EXPECT_EQ(reports[0].final_train_loss, reports[1].final_train_loss);
      EXPECT_EQ(reports[0].final_metrics.auc, reports[1].final_metrics.auc);
      EXPECT_TRUE(rows[0] == rows[1]) << "the tables differ";
    }
  }
}

TEST_F(TrainerTest, NegativeStalenessIsRejected) {
  TrainerOptions o = Options(ModelKind::kDin, 1);
  o.max_staleness = -1;
  EXPECT_EQ(Trainer::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TrainerTest, MissingTrainingFileIsAnError) {
  TrainerOptions o = Options(ModelKind::kDin, 1);
  o.train_files = {dir_ + "/does_not_exist.txt"};
  auto trainer = Trainer::Create(o);
  ASSERT_FALSE(trainer.ok());
  EXPECT_NE(trainer.status().message().find("does_not_exist"), std::string::npos)
      << trainer.status().ToString();
}

// --device=cuda without a usable GPU (CI, or a CPU-only build) is an error
// status from Create, never a crash.
TEST_F(TrainerTest, CudaWithoutUsableGpuIsAnError) {
  const Status device = CheckModelDevice(ModelDevice::kCuda);
  if (device.ok()) {
    std::printf("skipped: a usable GPU is present, so there is no error path to test\n");
    GTEST_SKIP();
  }
  EXPECT_EQ(device.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(device.message() == "this build has no CUDA backend" ||
              device.message().rfind("no usable GPU: ", 0) == 0)
      << device.message();
  TrainerOptions o = Options(ModelKind::kDin, 2);
  o.device = ModelDevice::kCuda;
  auto trainer = Trainer::Create(o);
  ASSERT_FALSE(trainer.ok());
  EXPECT_EQ(trainer.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(trainer.status().message(), device.message());
}

}  // namespace
}  // namespace dips
