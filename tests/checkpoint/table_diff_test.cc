// Comparing a table with its checkpoint, as `dips checkpoint-diff` does:
// a dump with kAllRows holds every row (never-pushed ones too); DiffTables
// finds a changed weight, a changed optimiser-state float, a changed step
// and a missing row, and passes identical tables; a checkpoint chain
// compared with a dump of the table it was written from is identical.
// Every table here goes through real row files in a temp dir.
#include "ps/checkpoint/table_diff.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/checkpoint_table.h"
#include "ps/checkpoint/file_io.h"
#include "ps/checkpoint/row_file.h"

namespace dips {
namespace {

constexpr SparseOptimizerKind kOpt = SparseOptimizerKind::kAdam;
constexpr int kDim = 3;

SparseTableOptions TableOptions() {
  SparseTableOptions options;
  options.dim = kDim;
  options.optimizer.kind = kOpt;
  options.num_stripes = 4;
  options.init_seed = 7;
  return options;
}

std::unique_ptr<SparseTable> NewTable() {
  auto table = SparseTable::Create(TableOptions());
  CHECK(table.ok());
  return std::move(table).value();
}

// Pushes keys [first, first + n) once at `step`.
void PushKeys(SparseTable* table, uint64_t first, size_t n, int64_t step) {
  std::vector<uint64_t> keys(n);
  std::vector<float> grads(n * kDim);
  for (size_t i = 0; i < n; ++i) keys[i] = first + i;
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.01f * static_cast<float>(i % 7) - 0.03f;
  std::vector<uint32_t> occurrences(n, 1);
  CHECK(table->Push(keys.data(), n, grads.data(), occurrences.data(), step).ok());
}

// A copy of one row that can be edited and imported back.
struct EditableRow {
  uint64_t key = 0;
  std::vector<float> weights;
  std::vector<float> state;
  uint64_t count = 0;
  int64_t last_update_step = 0;
  int64_t update_count = 0;

  RowView View() const {
    return RowView{key, weights.data(), state.data(), count, last_update_step, update_count};
  }
};

EditableRow CopyRow(const SparseTable& table, uint64_t key) {
  EditableRow copy;
  table.ForEachRow([&](const RowView& row) {
    if (row.key != key) return;
    copy.key = key;
    copy.weights.assign(row.weights, row.weights + kDim);
    copy.state.assign(row.state, row.state + kDim * StateFloatsPerWeight(kOpt));
    copy.count = row.count;
    copy.last_update_step = row.last_update_step;
    copy.update_count = row.update_count;
  });
  CHECK_EQ(key, copy.key) << "no row for key " << key;
  return copy;
}

class TableDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dips_table_diff_test_XXXXXX";
    ASSERT_NE(nullptr, ::mkdtemp(tmpl));
    dir_ = tmpl;
    // Keys 1..20 pushed (11..20 twice), key 500 only pulled: a row that was
    // created but never pushed.
    source_ = NewTable();
    PushKeys(source_.get(), 1, 20, 3);
    PushKeys(source_.get(), 11, 10, 4);
    const uint64_t pulled = 500;
    std::vector<float> values(kDim);
    ASSERT_TRUE(source_->Pull(&pulled, 1, true, values.data(), nullptr).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `table` (per since_step) to a row file in a fresh directory
  // under the test's; returns that directory.
  std::string Dump(const SparseTable& table, int64_t since_step, const std::string& name,
                   uint64_t* rows) {
    const std::string dir = JoinPath(dir_, name);
    EXPECT_TRUE(MakeDirs(dir).ok());
    RowFileOptions options;
    options.optimizer = kOpt;
    options.since_step = since_step;
    auto info = WriteRowFile(table, options, JoinPath(dir, ShardFileName(0, 1)));
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    *rows = info.ok() ? info->rows : 0;
    return dir;
  }

  // A new table holding the rows of every row file in `dir`.
  std::unique_ptr<SparseTable> Load(const std::string& dir) {
    auto table = NewTable();
    auto info = LoadRowFiles(dir, kOpt, table.get());
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return table;
  }

  TableDiff Diff(const SparseTable& expected, const SparseTable& actual) {
    auto diff = DiffTables(expected, actual, kOpt, 5);
    EXPECT_TRUE(diff.ok()) << diff.status().ToString();
    return diff.ok() ? *diff : TableDiff();
  }

  std::string dir_;
  std::unique_ptr<SparseTable> source_;
};

TEST_F(TableDiffTest, AllRowsDumpIncludesNeverPushedRows) {
  uint64_t pushed = 0, all = 0;
  Dump(*source_, -1, "pushed", &pushed);
  Dump(*source_, kAllRows, "all", &all);
  EXPECT_EQ(20u, pushed);
  EXPECT_EQ(21u, all);  // and key 500, never pushed
  auto loaded = Load(JoinPath(dir_, "all"));
  EXPECT_EQ(-1, CopyRow(*loaded, 500).last_update_step);
  EXPECT_EQ(0, CopyRow(*loaded, 500).update_count);
}

TEST_F(TableDiffTest, IdenticalTablesPass) {
  uint64_t rows = 0;
  auto checkpoint = Load(Dump(*source_, -1, "ckpt", &rows));
  auto dump = Load(Dump(*source_, kAllRows, "dump", &rows));
  const TableDiff diff = Diff(*checkpoint, *dump);
  EXPECT_TRUE(diff.same());
  EXPECT_EQ(20u, diff.expected_rows);
  EXPECT_EQ(20u, diff.identical);
  EXPECT_EQ(21u, diff.actual_rows);  // the dump's extra never-pushed row is only counted
  EXPECT_TRUE(diff.examples.empty());
}

TEST_F(TableDiffTest, FindsChangedWeightStateAndStepAndMissingRows) {
  uint64_t rows = 0;
  auto checkpoint = Load(Dump(*source_, -1, "ckpt", &rows));

  // One bit of one weight of key 5: the next float up.
  EditableRow weight = CopyRow(*source_, 5);
  weight.weights[1] = std::nextafter(weight.weights[1], 1.0f);
  // One optimiser-state float of key 12 (state[5]: Adam's second moment of
  // weight 2, docs/optimizers.md).
  EditableRow state = CopyRow(*source_, 12);
  state.state[kDim + 2] += 1.0f;
  // The step stamp of key 15.
  EditableRow step = CopyRow(*source_, 15);
  step.last_update_step += 1;
  std::vector<RowView> edits = {weight.View(), state.View(), step.View()};
  ASSERT_TRUE(source_->ImportRows(edits.data(), edits.size()).ok());
  const std::string dump_dir = Dump(*source_, kAllRows, "dump", &rows);

  // Keys 2 and 3 are left out of the loaded dump.
  auto dump = NewTable();
  ASSERT_TRUE(LoadRowFile(JoinPath(dump_dir, ShardFileName(0, 1)), nullptr, kOpt,
                          [](uint64_t key) { return key != 2 && key != 3; }, dump.get())
                  .ok());

  const TableDiff diff = Diff(*checkpoint, *dump);
  EXPECT_FALSE(diff.same());
  EXPECT_EQ(20u, diff.expected_rows);
  EXPECT_EQ(15u, diff.identical);
  EXPECT_EQ(2u, diff.missing);
  EXPECT_EQ(3u, diff.different);
  EXPECT_EQ(19u, diff.actual_rows);  // 21 dumped, 2 left out
  // Smallest keys first, each with the first field that differs.
  ASSERT_EQ(5u, diff.examples.size());
  const uint64_t want_keys[] = {2, 3, 5, 12, 15};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(want_keys[i], diff.examples[i].key) << i;
  EXPECT_EQ("missing", diff.examples[0].what);
  EXPECT_EQ(0u, diff.examples[2].what.rfind("weights[1]: ", 0)) << diff.examples[2].what;
  EXPECT_EQ(0u, diff.examples[3].what.rfind("state[5]: ", 0)) << diff.examples[3].what;
  EXPECT_EQ("last_update_step: 4 vs 5", diff.examples[4].what);

  // Fewer examples keep the smallest keys.
  auto two = DiffTables(*checkpoint, *dump, kOpt, 2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(2u, two->examples.size());
  EXPECT_EQ(2u, two->examples[0].key);
  EXPECT_EQ(3u, two->examples[1].key);
}

TEST_F(TableDiffTest, MismatchedDimsAreRefused) {
  SparseTableOptions options = TableOptions();
  options.dim = kDim + 1;
  auto wider = SparseTable::Create(options);
  ASSERT_TRUE(wider.ok());
  EXPECT_EQ(StatusCode::kInvalidArgument,
            DiffTables(*source_, **wider, kOpt, 5).status().code());
}

TEST_F(TableDiffTest, CheckpointChainMatchesTheDumpOfItsTable) {
  // A full checkpoint at step 4 and an incremental one at step 6 over it,
  // written from source_ as a trainer would; then the dump of source_.
  const std::string root = JoinPath(dir_, "ckpt");
  auto commit = [&](int64_t step, const std::string& base, int64_t since_step) {
    const std::string name = CheckpointName(step);
    ASSERT_TRUE(MakeDirs(JoinPath(root, name)).ok());
    RowFileOptions options;
    options.optimizer = kOpt;
    options.since_step = since_step;
    auto info = WriteRowFile(*source_, options, JoinPath(JoinPath(root, name), ShardFileName(0, 1)));
    ASSERT_TRUE(info.ok());
    ckpt::Manifest manifest;
    manifest.set_format_version(kCheckpointFormatVersion);
    manifest.set_step(step);
    manifest.set_incremental(!base.empty());
    manifest.set_base(base);
    manifest.set_since_step(since_step);
    manifest.set_num_shards(1);
    manifest.set_dim(kDim);
    manifest.set_sparse_optimizer(SparseOptimizerName(kOpt));
    manifest.set_state_floats_per_weight(StateFloatsPerWeight(kOpt));
    manifest.set_init_seed(TableOptions().init_seed);
    manifest.set_init_scale(TableOptions().init_scale);
    SetFileEntry(ShardFileName(0, 1), info->digest, info->rows, manifest.add_files());
    ASSERT_TRUE(CommitManifest(root, name, manifest).ok());
  };
  commit(4, "", -1);
  PushKeys(source_.get(), 18, 10, 5);  // updates 18..20, creates 21..27
  commit(6, CheckpointName(4), 3);
  uint64_t rows = 0;
  const std::string dump_dir = Dump(*source_, kAllRows, "dump", &rows);

  auto chain = VerifyCheckpoint(root, CheckpointName(6));
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  auto options = CheckpointTableOptions(*chain);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(kDim, options->dim);
  EXPECT_EQ(kOpt, options->optimizer.kind);
  EXPECT_EQ(TableOptions().init_seed, options->init_seed);
  auto checkpoint = LoadCheckpointTable(*chain);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  const TableDiff diff = Diff(**checkpoint, *Load(dump_dir));
  EXPECT_TRUE(diff.same());
  EXPECT_EQ(27u, diff.expected_rows);
  EXPECT_EQ(28u, diff.actual_rows);

  // An empty dump directory is an error, not "nothing differs".
  ASSERT_TRUE(MakeDirs(JoinPath(dir_, "empty")).ok());
  auto empty = NewTable();
  EXPECT_EQ(StatusCode::kNotFound,
            LoadRowFiles(JoinPath(dir_, "empty"), kOpt, empty.get()).status().code());
}

}  // namespace
}  // namespace dips
