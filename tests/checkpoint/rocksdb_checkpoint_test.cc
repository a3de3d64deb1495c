// Shards with a disk tier are checkpointed with RocksDB's own facility
// (ps/checkpoint/shard_checkpoint.h): the checkpoint holds every row, bit
// for bit, whether it is imported into another table (any kind, any
// partition of the keys) or opened as a new disk tier; later checkpoints
// share the unchanged SST files by hard link; damage is detected before
// anything loads; pruning deletes the shard directories.
#include "ps/checkpoint/shard_checkpoint.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/checkpoint/checkpoint.h"
#include "ps/rocksdb_tier.h"
#include "ps/tiered_table.h"
#include "tests/ps/table_test_util.h"

namespace dips {
namespace {

namespace fs = std::filesystem;
using testing_util::ScratchDir;
using testing_util::Snapshot;

constexpr SparseOptimizerKind kOpt = SparseOptimizerKind::kAdagrad;

SparseTableOptions Options() {
  SparseTableOptions options;
  options.dim = 4;
  options.optimizer.kind = kOpt;
  options.num_stripes = 4;
  options.init_seed = 7;
  return options;
}

std::unique_ptr<TieredSparseTable> OpenTiered(const std::string& dir, bool seeded = false) {
  RocksTierOptions tier_options;
  tier_options.dir = dir;
  tier_options.keep_existing = seeded;
  tier_options.seeded_from_checkpoint = seeded;
  tier_options.block_cache_bytes = 4 << 20;
  tier_options.write_buffer_bytes = 256 << 10;
  auto tier = RocksTier::Open(tier_options);
  CHECK(tier.ok()) << tier.status().ToString();
  TieredTableOptions options;
  options.table = Options();
  // About 64 rows a stripe: most of the 3,000 rows below live on disk only.
  const RowLayout layout(options.table.dim, StateFloatsPerWeight(kOpt));
  options.memory_budget_bytes =
      options.table.num_stripes * (RowStoreBytesFor(64, layout.row_bytes(), 1) + 64);
  auto table = TieredSparseTable::Open(options, *tier);
  CHECK(table.ok()) << table.status().ToString();
  return std::move(table).value();
}

std::unique_ptr<SparseTable> MemoryTable() {
  auto table = SparseTable::Create(Options());
  CHECK(table.ok());
  return std::move(table).value();
}

// Pushes gradients for `n` keys starting at `first` (stamped `step`) and
// pulls `n / 4` more keys that are never pushed (rows with counts only).
void Train(SparseTable* table, uint64_t first, size_t n, int64_t step) {
  std::mt19937 rng(static_cast<uint32_t>(first + step));
  std::normal_distribution<float> gauss;
  std::vector<uint64_t> keys(n);
  std::vector<float> grads(n * 4);
  for (size_t i = 0; i < n; ++i) keys[i] = first + i * 7919;
  for (float& g : grads) g = gauss(rng);
  ASSERT_TRUE(table->Push(keys.data(), n, grads.data(), nullptr, step).ok());
  std::vector<uint64_t> pulled(n / 4);
  for (size_t i = 0; i < pulled.size(); ++i) pulled[i] = (uint64_t{1} << 40) + first + i;
  std::vector<float> values(pulled.size() * 4);
  ASSERT_TRUE(table->Pull(pulled.data(), pulled.size(), true, values.data(), nullptr).ok());
}

// Writes the shard into root/ckpt-<step> and commits a manifest for it.
ShardCheckpoint Save(ShardCheckpointWriter* writer, SparseTable* table, const std::string& root,
                     int64_t step) {
  const std::string name = CheckpointName(step);
  CHECK(MakeDirs(JoinPath(root, name)).ok());
  auto shard = writer->Write(table, ShardCheckpointOptions{kOpt, -1, 0, 1}, JoinPath(root, name));
  CHECK(shard.ok()) << shard.status().ToString();
  ckpt::Manifest manifest;
  manifest.set_format_version(kCheckpointFormatVersion);
  manifest.set_step(step);
  manifest.set_since_step(-1);
  manifest.set_num_shards(1);
  manifest.set_dim(4);
  manifest.set_sparse_optimizer(SparseOptimizerName(kOpt));
  manifest.set_state_floats_per_weight(StateFloatsPerWeight(kOpt));
  AddShardToManifest(*shard, &manifest);
  CHECK(CommitManifest(root, name, manifest).ok());
  return std::move(shard).value();
}

std::set<std::string> FilesUnder(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.insert(e.path().string());
  return names;
}

uint64_t Inode(const std::string& path) {
  struct stat st;
  CHECK(::stat(path.c_str(), &st) == 0) << path;
  return st.st_ino;
}

class RocksdbCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = OpenTiered(JoinPath(scratch_.path(), "live"));
    Train(table_.get(), 1, 3000, 5);
    root_ = JoinPath(scratch_.path(), "ckpt");
    shard_ = Save(&writer_, table_.get(), root_, 10);
  }

  ScratchDir scratch_;
  std::unique_ptr<TieredSparseTable> table_;
  ShardCheckpointWriter writer_;
  std::string root_;
  ShardCheckpoint shard_;
};

TEST_F(RocksdbCheckpointTest, HoldsEveryRowAndImportsBitForBit) {
  EXPECT_TRUE(shard_.self_contained());
  EXPECT_EQ("shard-00000-of-00001.rocksdb", shard_.rocksdb_dir);
  EXPECT_EQ(3000u + 750u, shard_.rows);  // pushed rows and pulled-only rows
  ASSERT_GT(table_->Stats().rows_on_disk, 0u);
  bool has_sst = false;
  for (const ShardCheckpointFile& f : shard_.files) {
    has_sst |= f.name.size() > 4 && f.name.substr(f.name.size() - 4) == ".sst";
  }
  EXPECT_TRUE(has_sst);

  auto chain = VerifyCheckpoint(root_, CheckpointName(10));
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  const std::set<std::string> before = FilesUnder(root_);
  auto memory = MemoryTable();
  auto rows = RestoreRows(*chain, kOpt, {}, memory.get());
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(shard_.rows, *rows);
  EXPECT_EQ(Snapshot(*table_, kOpt), Snapshot(*memory, kOpt));
  // Reading the checkpoint wrote nothing into it (no LOG, no lock file).
  EXPECT_EQ(before, FilesUnder(root_));
}

TEST_F(RocksdbCheckpointTest, ImportKeepsOnlyTheKeysAsked) {
  auto chain = VerifyCheckpoint(root_, CheckpointName(10));
  ASSERT_TRUE(chain.ok());
  auto even = MemoryTable();
  auto rows = RestoreRows(*chain, kOpt, [](uint64_t key) { return key % 2 == 0; }, even.get());
  ASSERT_TRUE(rows.ok());
  auto all = Snapshot(*table_, kOpt);
  size_t want = 0;
  for (const auto& [key, row] : all) want += key % 2 == 0;
  EXPECT_EQ(want, *rows);
  for (const auto& [key, row] : Snapshot(*even, kOpt)) {
    EXPECT_EQ(0u, key % 2);
    EXPECT_TRUE(row == all.at(key)) << key;
  }
}

TEST_F(RocksdbCheckpointTest, SeededTierServesTheCheckpointedRows) {
  const std::string live = JoinPath(scratch_.path(), "restored");
  const std::string shard_dir = JoinPath(JoinPath(root_, CheckpointName(10)), shard_.rocksdb_dir);
  ASSERT_TRUE(RocksTier::SeedFromCheckpoint(shard_dir, live).ok());
  {
    auto restored = OpenTiered(live, /*seeded=*/true);
    EXPECT_EQ(Snapshot(*table_, kOpt), Snapshot(*restored, kOpt));
    // Training on the restored tier leaves the checkpoint as it was.
    Train(restored.get(), 5, 2000, 11);
  }
  EXPECT_TRUE(VerifyCheckpoint(root_, CheckpointName(10)).ok());
}

TEST_F(RocksdbCheckpointTest, LaterCheckpointsLinkUnchangedFiles) {
  Train(table_.get(), 2, 50, 12);
  const ShardCheckpoint second = Save(&writer_, table_.get(), root_, 20);
  int shared = 0;
  for (const ShardCheckpointFile& a : shard_.files) {
    for (const ShardCheckpointFile& b : second.files) {
      if (a.name != b.name || a.name.substr(a.name.size() - 4) != ".sst") continue;
      shared += Inode(JoinPath(JoinPath(root_, CheckpointName(10)), a.name)) ==
                Inode(JoinPath(JoinPath(root_, CheckpointName(20)), b.name));
    }
  }
  EXPECT_GT(shared, 0) << "no SST file is shared by hard link";
  auto chain = VerifyCheckpoint(root_, CheckpointName(20));
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  auto memory = MemoryTable();
  ASSERT_TRUE(RestoreRows(*chain, kOpt, {}, memory.get()).ok());
  EXPECT_EQ(Snapshot(*table_, kOpt), Snapshot(*memory, kOpt));

  // Pruning to one checkpoint deletes the first one's RocksDB directory too.
  ASSERT_TRUE(PruneCheckpoints(root_, 1).ok());
  EXPECT_FALSE(fs::exists(JoinPath(root_, CheckpointName(10))));
  EXPECT_TRUE(VerifyCheckpoint(root_, CheckpointName(20)).ok());
}

// A crash after a shard wrote its part of a checkpoint but before the
// manifest leaves the directory behind; the same checkpoint written again
// (a resumed job reaching that step) replaces it.
TEST_F(RocksdbCheckpointTest, RewritingAnUnfinishedCheckpointReplacesIt) {
  const std::string name = CheckpointName(30);
  ASSERT_TRUE(MakeDirs(JoinPath(root_, name)).ok());
  ASSERT_TRUE(writer_.Write(table_.get(), ShardCheckpointOptions{kOpt, -1, 0, 1},
                            JoinPath(root_, name)).ok());
  Train(table_.get(), 3, 40, 31);
  const ShardCheckpoint again = Save(&writer_, table_.get(), root_, 30);
  auto chain = VerifyCheckpoint(root_, name);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  auto memory = MemoryTable();
  ASSERT_TRUE(RestoreRows(*chain, kOpt, {}, memory.get()).ok());
  EXPECT_EQ(Snapshot(*table_, kOpt), Snapshot(*memory, kOpt));
}

TEST_F(RocksdbCheckpointTest, DamageIsDetectedBeforeAnyRowLoads) {
  const std::string dir = JoinPath(root_, CheckpointName(10));
  std::string sst;
  for (const ShardCheckpointFile& f : shard_.files) {
    if (f.name.substr(f.name.size() - 4) == ".sst") sst = JoinPath(dir, f.name);
  }
  ASSERT_FALSE(sst.empty());
  auto chain = ReadCheckpointChain(root_, CheckpointName(10));
  ASSERT_TRUE(chain.ok());
  // A hard link: break it first so only the checkpoint's copy is damaged.
  const std::string copy = sst + ".copy";
  fs::copy_file(sst, copy);
  fs::rename(copy, sst);
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  auto verified = VerifyCheckpoint(root_, CheckpointName(10));
  ASSERT_EQ(StatusCode::kCorruption, verified.status().code());
  EXPECT_NE(std::string::npos, verified.status().message().find(sst));
  auto memory = MemoryTable();
  auto rows = RestoreRows(*chain, kOpt, {}, memory.get());
  EXPECT_EQ(StatusCode::kCorruption, rows.status().code());
  EXPECT_EQ(0u, memory->Stats().rows);

  // A missing file of the RocksDB directory, likewise.
  fs::remove(sst);
  EXPECT_EQ(StatusCode::kCorruption, VerifyCheckpoint(root_, CheckpointName(10)).status().code());
}

TEST(ShardCheckpointTest, MemoryTablesWriteRowFiles) {
  ScratchDir scratch;
  auto table = MemoryTable();
  Train(table.get(), 1, 100, 3);
  ShardCheckpointWriter writer;
  auto shard = writer.Write(table.get(), ShardCheckpointOptions{kOpt, -1, 1, 2}, scratch.path());
  ASSERT_TRUE(shard.ok());
  EXPECT_FALSE(shard->self_contained());
  ASSERT_EQ(1u, shard->files.size());
  EXPECT_EQ("shard-00001-of-00002.rows", shard->files[0].name);
  EXPECT_EQ(100u, shard->rows);  // pushed rows only
}

}  // namespace
}  // namespace dips
