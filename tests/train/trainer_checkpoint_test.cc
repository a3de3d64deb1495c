// Checkpoint and resume through the single-process trainer: a run stopped
// part-way and resumed from its checkpoints ends bit-identical to a run
// that was never interrupted (same rows, dense state and test AUC), through
// a chain of full and incremental checkpoints; a damaged newest checkpoint
// is skipped; a mismatched model is refused; checkpoints are also written
// by time (CheckpointOptions::every_seconds) and resumed from.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/checkpoint/checkpoint.h"
#include "ps/row_layout.h"
#include "ps/row_store.h"
#include "tests/train/toy_dataset.h"
#include "worker/train/trainer.h"

namespace dips {
namespace {

struct RowCopy {
  std::vector<float> values;
  uint64_t count;
  int64_t update_count;
  bool operator==(const RowCopy& o) const {
    return values == o.values && count == o.count && update_count == o.update_count;
  }
};

class TrainerCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/dips_trainer_ckpt_test_XXXXXX";
    dir_ = mkdtemp(dir_template);
    WriteDataset(dir_ + "/train.txt", 4000, 11);
    WriteDataset(dir_ + "/test.txt", 1000, 12);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  TrainerOptions Options(ModelKind kind, const std::string& checkpoint_dir) {
    TrainerOptions o;
    o.model.kind = kind;
    o.model.embedding_dim = 6;
    o.model.mlp_hidden = {16, 8};
    o.model.attention_hidden1 = 8;
    o.model.attention_hidden2 = 4;
    o.train_files = {dir_ + "/train.txt"};
    o.test_files = {dir_ + "/test.txt"};
    o.epochs = 2;
    o.batch_size = 64;
    o.threads = 1;
    o.seed = 3;
    o.shuffle_buffer = 500;
    o.log_every_seconds = 1e9;
    o.checkpoint.dir = checkpoint_dir;
    return o;
  }

  // Trains; returns the final test AUC.
  double Run(const TrainerOptions& o) {
    auto trainer = Trainer::Create(o);
    EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
    if (!trainer.ok()) return -1;
    auto report = (*trainer)->Train();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? report->final_metrics.auc : -1;
  }

  // The rows and dense state of the newest checkpoint under `root`.
  void Load(const std::string& root, std::map<uint64_t, RowCopy>* rows,
            ckpt::DenseState* dense, int64_t* step) {
    auto chain = FindLatestCheckpoint(root);
    ASSERT_TRUE(chain.ok()) << chain.status().ToString();
    *step = chain->newest().step();
    SparseTableOptions table_options = DefaultTable();
    table_options.dim = 6;
    auto table = SparseTable::Create(table_options);
    ASSERT_TRUE(table.ok());
    ASSERT_TRUE(RestoreRows(*chain, table_options.optimizer.kind, {}, table->get()).ok());
    const size_t state = 6 * StateFloatsPerWeight(table_options.optimizer.kind);
    (*table)->ForEachRow([&](const RowView& r) {
      RowCopy& copy = (*rows)[r.key];
      copy.values.assign(r.weights, r.weights + 6);
      copy.values.insert(copy.values.end(), r.state, r.state + state);
      copy.count = r.count;
      copy.update_count = r.update_count;
    });
    ASSERT_TRUE(ReadProtoFile(JoinPath(chain->newest_dir(), kDenseFileName), dense).ok());
  }

  // The newest checkpoints under two roots hold the same step, rows (all
  // 210: 200 items + 10 categories) and dense state, bit for bit.
  void ExpectSameNewestCheckpoint(const std::string& root_a, const std::string& root_b) {
    std::map<uint64_t, RowCopy> rows_a, rows_b;
    ckpt::DenseState dense_a, dense_b;
    int64_t step_a = 0, step_b = 0;
    Load(root_a, &rows_a, &dense_a, &step_a);
    Load(root_b, &rows_b, &dense_b, &step_b);
    EXPECT_EQ(step_a, step_b);
    EXPECT_EQ(210u, rows_a.size());
    EXPECT_TRUE(rows_a == rows_b);
    EXPECT_EQ(dense_a.SerializeAsString(), dense_b.SerializeAsString());
  }

  std::string dir_;
};

TEST_F(TrainerCheckpointTest, ResumedRunEqualsUninterruptedRun) {
  for (ModelKind kind : {ModelKind::kDin, ModelKind::kDien}) {
    SCOPED_TRACE(ModelKindName(kind));
    const std::string straight = dir_ + "/straight_" + ModelKindName(kind);
    const std::string resumed = dir_ + "/resumed_" + ModelKindName(kind);
    const double auc_straight = Run(Options(kind, straight));

    // Interrupted in epoch 1 after 39 steps (about 63 steps an epoch), with
    // a checkpoint every 2 steps (a full one, then three incremental ones)
    // and the final one at step 39. Consecutive checkpoints catch a row
    // pushed in the first step after one checkpoint and never again before
    // the next.
    TrainerOptions first = Options(kind, resumed);
    first.max_steps = 39;
    first.checkpoint.every_steps = 2;
    first.checkpoint.full_every = 4;
    first.checkpoint.keep = 3;
    Run(first);
    // Full at 2, 10, 18, 26, 34; the rest incremental; the final one (39)
    // over 38. Pruning keeps the newest 3 and their chain: 34 .. 39.
    auto chain = FindLatestCheckpoint(resumed);
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ((std::vector<std::string>{CheckpointName(34), CheckpointName(36),
                                        CheckpointName(38), CheckpointName(39)}),
              chain->names);
    EXPECT_FALSE(chain->manifests[0].incremental());
    for (size_t i = 1; i < chain->names.size(); ++i) {
      EXPECT_TRUE(chain->manifests[i].incremental()) << i;
    }
    auto names = ListCheckpoints(resumed);
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(chain->names, *names);

    TrainerOptions second = Options(kind, resumed);
    second.checkpoint.resume = true;
    second.checkpoint.every_steps = 2;
    second.checkpoint.full_every = 4;
    const double auc_resumed = Run(second);
    EXPECT_EQ(auc_straight, auc_resumed);

    ExpectSameNewestCheckpoint(straight, resumed);
  }
}

// With a disk tier the rows are checkpointed as RocksDB checkpoints (every
// checkpoint full), and the resumed run still ends bit-identical.
TEST_F(TrainerCheckpointTest, TieredTableResumesFromRocksdbCheckpoints) {
  auto tiered = [&](const std::string& root, const std::string& table_dir) {
    TrainerOptions o = Options(ModelKind::kDin, root);
    // About 4 rows a stripe in memory: most of the 210 rows live on disk.
    const RowLayout layout(6, StateFloatsPerWeight(o.table.optimizer.kind));
    o.table_memory_budget_bytes =
        o.table.num_stripes * (RowStoreBytesFor(4, layout.row_bytes(), 1) + 4);
    o.table_rocksdb.dir = table_dir;
    o.table_rocksdb.block_cache_bytes = 4 << 20;
    o.table_rocksdb.write_buffer_bytes = 256 << 10;
    o.checkpoint.every_steps = 10;
    o.checkpoint.full_every = 4;  // asks for incremental ones; the tier writes all rows
    return o;
  };
  const std::string straight = dir_ + "/straight", resumed = dir_ + "/resumed";
  const double auc_straight = Run(tiered(straight, dir_ + "/table_a"));
  TrainerOptions first = tiered(resumed, dir_ + "/table_b");
  first.max_steps = 39;
  Run(first);
  auto chain = FindLatestCheckpoint(resumed);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_EQ(std::vector<std::string>{CheckpointName(39)}, chain->names);
  ASSERT_EQ(1, chain->newest().rocksdb_shards_size());
  EXPECT_GT(chain->newest().rocksdb_shards(0).rows(), 0u);
  EXPECT_FALSE(chain->newest().incremental());

  TrainerOptions second = tiered(resumed, dir_ + "/table_c");
  second.checkpoint.resume = true;
  EXPECT_EQ(auc_straight, Run(second));
  ExpectSameNewestCheckpoint(straight, resumed);
}

TEST_F(TrainerCheckpointTest, DamagedNewestIsSkippedAndMismatchesAreRefused) {
  const std::string root = dir_ + "/ckpt";
  TrainerOptions first = Options(ModelKind::kDin, root);
  first.max_steps = 20;
  first.checkpoint.every_steps = 10;
  Run(first);
  // Step 20's dense file is flipped: resume must fall back to step 10.
  const std::string dense = JoinPath(JoinPath(root, CheckpointName(20)), kDenseFileName);
  {
    std::fstream f(dense, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  auto chain = FindLatestCheckpoint(root);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(10, chain->newest().step());

  TrainerOptions other = Options(ModelKind::kDin, root);
  other.checkpoint.resume = true;
  other.model.mlp_hidden = {32, 8};
  auto trainer = Trainer::Create(other);
  EXPECT_EQ(StatusCode::kInvalidArgument, trainer.status().code());
  EXPECT_NE(std::string::npos, trainer.status().message().find("different model"));

  // Resuming with nothing to resume from starts fresh.
  TrainerOptions fresh = Options(ModelKind::kDin, dir_ + "/empty");
  fresh.checkpoint.resume = true;
  fresh.max_steps = 3;
  Run(fresh);
  auto names = ListCheckpoints(dir_ + "/empty");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(std::vector<std::string>{CheckpointName(3)}, *names);
}

TEST_F(TrainerCheckpointTest, CheckpointsByTimeAndResumesFromOne) {
  const double auc_straight = Run(Options(ModelKind::kDin, dir_ + "/straight"));

  // An interval far shorter than any step makes every step due by time
  // alone (the step rule is off), so which checkpoints exist does not
  // depend on how fast this machine is.
  const std::string root = dir_ + "/by_time";
  TrainerOptions first = Options(ModelKind::kDin, root);
  first.max_steps = 12;
  first.checkpoint.every_seconds = 1e-9;
  first.checkpoint.keep = 100;
  Run(first);
  std::vector<std::string> want;
  for (int64_t step = 1; step <= 12; ++step) want.push_back(CheckpointName(step));
  auto names = ListCheckpoints(root);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(want, *names);

  // An interval longer than the run: only the checkpoint at the end.
  TrainerOptions slow = Options(ModelKind::kDin, dir_ + "/long_interval");
  slow.max_steps = 12;
  slow.checkpoint.every_seconds = 1e6;
  Run(slow);
  names = ListCheckpoints(dir_ + "/long_interval");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(std::vector<std::string>{CheckpointName(12)}, *names);

  // Without step 12's, the newest is one that only the time rule wrote,
  // mid-training; resuming from it ends where the uninterrupted run does.
  std::filesystem::remove_all(JoinPath(root, CheckpointName(12)));
  TrainerOptions second = Options(ModelKind::kDin, root);
  second.checkpoint.resume = true;
  EXPECT_EQ(auc_straight, Run(second));
}

}  // namespace
}  // namespace dips
