// Checkpoint files: row files, the message envelope, manifests, chains,
// pruning, and detection of every kind of damage before anything loads.
#include "ps/checkpoint/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/checkpoint/file_io.h"
#include "ps/checkpoint/row_file.h"
#include "tests/common/temp_dirs.h"

namespace dips {
namespace {

constexpr SparseOptimizerKind kOpt = SparseOptimizerKind::kAdam;

std::string TempDir() {
  std::string dir = testing_dirs::MakeTempDir("dips_ckpt_test_");
  CHECK(!dir.empty());
  return dir;
}

std::unique_ptr<SparseTable> NewTable() {
  SparseTableOptions options;
  options.dim = 3;
  options.optimizer.kind = kOpt;
  options.num_stripes = 4;
  auto table = SparseTable::Create(options);
  CHECK(table.ok());
  return std::move(table).value();
}

struct Row {
  std::vector<float> values;  // weights then state
  uint64_t count;
  int64_t last_step;
  int64_t updates;
  bool operator==(const Row& o) const {
    return values == o.values && count == o.count && last_step == o.last_step &&
           updates == o.updates;
  }
};

std::map<uint64_t, Row> Rows(const SparseTable& table) {
  std::map<uint64_t, Row> rows;
  const size_t state = table.dim() * StateFloatsPerWeight(kOpt);
  table.ForEachRow([&](const RowView& r) {
    Row& row = rows[r.key];
    row.values.assign(r.weights, r.weights + table.dim());
    row.values.insert(row.values.end(), r.state, r.state + state);
    row.count = r.count;
    row.last_step = r.last_update_step;
    row.updates = r.update_count;
  });
  return rows;
}

// Pushes keys [first, first + n) at `step`.
void PushKeys(SparseTable* table, uint64_t first, size_t n, int64_t step) {
  std::vector<uint64_t> keys(n);
  std::vector<float> grads(n * table->dim());
  std::vector<uint32_t> occurrences(n, 2);
  for (size_t i = 0; i < n; ++i) keys[i] = first + i;
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
  CHECK(table->Push(keys.data(), n, grads.data(), occurrences.data(), step).ok());
}

void FlipByte(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.read(&c, 1);
  c ^= 0x40;
  f.seekp(offset);
  f.write(&c, 1);
}

void Truncate(const std::string& path, long drop) {
  struct stat st;
  ASSERT_EQ(0, ::stat(path.c_str(), &st));
  ASSERT_EQ(0, ::truncate(path.c_str(), st.st_size - drop));
}

TEST(RowFileTest, RoundTripsPushedRowsOnlyAndFiltersBySinceStep) {
  const std::string dir = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 100, 500, 1);
  PushKeys(table.get(), 300, 400, 5);  // keys 300..699 updated again at step 5
  std::vector<uint64_t> pulled = {9000, 9001};
  std::vector<float> values(6);
  ASSERT_TRUE(table->Pull(pulled.data(), 2, true, values.data(), nullptr).ok());

  RowFileOptions options;
  options.optimizer = kOpt;
  auto full = WriteRowFile(*table, options, dir + "/full.rows");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(600u, full->rows);  // the two pulled-only rows are not written
  options.since_step = 1;
  auto incremental = WriteRowFile(*table, options, dir + "/inc.rows");
  ASSERT_TRUE(incremental.ok());
  EXPECT_EQ(400u, incremental->rows);

  auto restored = NewTable();
  auto loaded = LoadRowFile(dir + "/full.rows", &full->digest, kOpt, {}, restored.get());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(600u, loaded->rows);
  std::map<uint64_t, Row> want = Rows(*table);
  want.erase(9000);
  want.erase(9001);
  EXPECT_TRUE(want == Rows(*restored));
}

TEST(RowFileTest, FlippedOrTruncatedFileIsRejectedBeforeAnyRowLoads) {
  const std::string dir = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 5000, 1);
  RowFileOptions options;
  auto info = WriteRowFile(*table, options, dir + "/a.rows");
  ASSERT_TRUE(info.ok());

  FlipByte(dir + "/a.rows", 200000);
  auto restored = NewTable();
  auto loaded = LoadRowFile(dir + "/a.rows", &info->digest, kOpt, {}, restored.get());
  EXPECT_EQ(StatusCode::kCorruption, loaded.status().code());
  EXPECT_NE(std::string::npos, loaded.status().message().find("a.rows"));
  EXPECT_EQ(0u, restored->Stats().rows);

  FlipByte(dir + "/a.rows", 200000);  // repaired
  Truncate(dir + "/a.rows", 100);
  loaded = LoadRowFile(dir + "/a.rows", &info->digest, kOpt, {}, restored.get());
  EXPECT_EQ(StatusCode::kCorruption, loaded.status().code());
  EXPECT_NE(std::string::npos, loaded.status().message().find("truncated"));
  EXPECT_EQ(0u, restored->Stats().rows);
  // Without the manifest's digest the footer still catches truncation.
  loaded = LoadRowFile(dir + "/a.rows", nullptr, kOpt, {}, restored.get());
  EXPECT_EQ(StatusCode::kCorruption, loaded.status().code());
}

TEST(RowFileTest, WrongDimOrOptimizerIsRefused) {
  const std::string dir = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 10, 1);
  auto info = WriteRowFile(*table, RowFileOptions(), dir + "/a.rows");
  ASSERT_TRUE(info.ok());
  auto other = NewTable();
  auto loaded = LoadRowFile(dir + "/a.rows", &info->digest, SparseOptimizerKind::kAdagrad, {},
                            other.get());
  EXPECT_EQ(StatusCode::kInvalidArgument, loaded.status().code());
}

TEST(ProtoFileTest, EnvelopeDetectsFlipsTruncationAndJunk) {
  const std::string dir = TempDir();
  ckpt::DenseState state;
  for (int i = 0; i < 1000; ++i) state.add_params(0.5f * i);
  state.set_optimizer_steps(77);
  auto digest = WriteProtoFile(dir + "/dense.pb", state);
  ASSERT_TRUE(digest.ok());
  ckpt::DenseState read;
  ASSERT_TRUE(ReadProtoFile(dir + "/dense.pb", &read).ok());
  EXPECT_EQ(77, read.optimizer_steps());
  EXPECT_EQ(1000, read.params_size());
  EXPECT_TRUE(VerifyFileDigest(dir + "/dense.pb", *digest).ok());

  FlipByte(dir + "/dense.pb", 100);
  EXPECT_EQ(StatusCode::kCorruption, ReadProtoFile(dir + "/dense.pb", &read).code());
  EXPECT_EQ(StatusCode::kCorruption, VerifyFileDigest(dir + "/dense.pb", *digest).code());
  FlipByte(dir + "/dense.pb", 100);
  Truncate(dir + "/dense.pb", 1);
  EXPECT_EQ(StatusCode::kCorruption, ReadProtoFile(dir + "/dense.pb", &read).code());
  std::ofstream(dir + "/junk.pb") << "hello world, not a checkpoint";
  EXPECT_EQ(StatusCode::kCorruption, ReadProtoFile(dir + "/junk.pb", &read).code());
  EXPECT_EQ(StatusCode::kNotFound, ReadProtoFile(dir + "/absent.pb", &read).code());
}

// Writes a checkpoint of `table` at `step` (incremental over `base` if not
// empty) with one row file per shard of a 2-shard split.
void WriteCheckpoint(const std::string& root, const SparseTable& table, int64_t step,
                     const std::string& base, int64_t since_step) {
  const std::string name = CheckpointName(step);
  ASSERT_TRUE(MakeDirs(JoinPath(root, name)).ok());
  ckpt::Manifest manifest;
  manifest.set_format_version(kCheckpointFormatVersion);
  manifest.set_step(step);
  manifest.set_incremental(!base.empty());
  manifest.set_base(base);
  manifest.set_since_step(since_step);
  manifest.set_num_shards(1);
  RowFileOptions options;
  options.since_step = since_step;
  const std::string file = ShardFileName(0, 1);
  auto info = WriteRowFile(table, options, JoinPath(JoinPath(root, name), file));
  ASSERT_TRUE(info.ok());
  ckpt::FileEntry* entry = manifest.add_files();
  entry->set_name(file);
  entry->set_bytes(info->digest.bytes);
  entry->set_crc32(info->digest.crc32);
  entry->set_rows(info->rows);
  ASSERT_TRUE(CommitManifest(root, name, manifest).ok());
}

TEST(CheckpointTest, IncrementalChainRestoresTheNewestRows) {
  const std::string root = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 1000, 10);
  WriteCheckpoint(root, *table, 10, "", -1);
  PushKeys(table.get(), 500, 1000, 20);  // updates 500..999, creates 1000..1499
  WriteCheckpoint(root, *table, 20, CheckpointName(10), 10);
  PushKeys(table.get(), 1, 10, 30);
  WriteCheckpoint(root, *table, 30, CheckpointName(20), 20);

  auto chain = FindLatestCheckpoint(root);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(3u, chain->names.size());
  EXPECT_EQ(CheckpointName(10), chain->names[0]);
  EXPECT_EQ(30, chain->newest().step());
  EXPECT_EQ(10u, chain->newest().files(0).rows());
  auto restored = NewTable();
  auto rows = RestoreRows(*chain, kOpt, {}, restored.get());
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_TRUE(Rows(*table) == Rows(*restored));
}

TEST(CheckpointTest, CorruptNewestIsSkippedAndBrokenChainIsDetected) {
  const std::string root = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 100, 1);
  WriteCheckpoint(root, *table, 1, "", -1);
  const std::map<uint64_t, Row> at_step1 = Rows(*table);
  PushKeys(table.get(), 1, 100, 2);
  WriteCheckpoint(root, *table, 2, "", -1);
  PushKeys(table.get(), 1, 100, 3);
  WriteCheckpoint(root, *table, 3, CheckpointName(2), 2);

  // Newest (3) has a flipped row file; 2 is intact: the search lands on 2.
  FlipByte(JoinPath(JoinPath(root, CheckpointName(3)), ShardFileName(0, 1)), 60);
  auto chain = FindLatestCheckpoint(root);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(2, chain->newest().step());
  // A manifest-less directory (a crash mid-checkpoint) does not exist.
  ASSERT_TRUE(MakeDirs(JoinPath(root, CheckpointName(4))).ok());
  EXPECT_EQ(2, FindLatestCheckpoint(root)->newest().step());
  // Checkpoint 2's manifest torn: 3 is broken too, so the answer is 1.
  Truncate(JoinPath(JoinPath(root, CheckpointName(2)), kManifestFileName), 3);
  chain = FindLatestCheckpoint(root);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(1, chain->newest().step());
  auto restored = NewTable();
  ASSERT_TRUE(RestoreRows(*chain, kOpt, {}, restored.get()).ok());
  EXPECT_TRUE(at_step1 == Rows(*restored));
  // An incremental whose base was deleted names the missing base.
  FlipByte(JoinPath(JoinPath(root, CheckpointName(3)), ShardFileName(0, 1)), 60);  // repaired
  ASSERT_EQ(0, std::system(("rm -rf " + JoinPath(root, CheckpointName(2))).c_str()));
  auto broken = VerifyCheckpoint(root, CheckpointName(3));
  EXPECT_EQ(StatusCode::kCorruption, broken.status().code());
  EXPECT_NE(std::string::npos, broken.status().message().find(CheckpointName(2)));
  EXPECT_EQ(StatusCode::kNotFound, FindLatestCheckpoint(TempDir()).status().code());
}

TEST(CheckpointTest, PruneKeepsTheNewestAndWhatTheirChainsNeed) {
  const std::string root = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 10, 1);
  WriteCheckpoint(root, *table, 1, "", -1);
  WriteCheckpoint(root, *table, 2, "", -1);
  PushKeys(table.get(), 1, 10, 3);
  WriteCheckpoint(root, *table, 3, CheckpointName(2), 2);
  PushKeys(table.get(), 1, 10, 4);
  WriteCheckpoint(root, *table, 4, CheckpointName(3), 3);
  ASSERT_TRUE(MakeDirs(JoinPath(root, CheckpointName(0))).ok());  // crash leftover
  ASSERT_TRUE(MakeDirs(JoinPath(root, CheckpointName(9))).ok());  // being written
  ASSERT_TRUE(PruneCheckpoints(root, 1).ok());
  auto left = ListCheckpoints(root);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((std::vector<std::string>{CheckpointName(2), CheckpointName(3), CheckpointName(4)}),
            *left);
  struct stat st;
  EXPECT_NE(0, ::stat(JoinPath(root, CheckpointName(0)).c_str(), &st));
  EXPECT_EQ(0, ::stat(JoinPath(root, CheckpointName(9)).c_str(), &st));
}

TEST(CheckpointTest, RowsReshardOntoAnyNumberOfTables) {
  const std::string root = TempDir();
  auto table = NewTable();
  PushKeys(table.get(), 1, 3000, 1);
  WriteCheckpoint(root, *table, 1, "", -1);
  auto chain = FindLatestCheckpoint(root);
  ASSERT_TRUE(chain.ok());
  std::map<uint64_t, Row> merged;
  uint64_t total = 0;
  for (uint64_t shard = 0; shard < 3; ++shard) {
    auto part = NewTable();
    auto rows = RestoreRows(*chain, kOpt, [shard](uint64_t key) { return key % 3 == shard; },
                            part.get());
    ASSERT_TRUE(rows.ok());
    total += *rows;
    for (const auto& [key, row] : Rows(*part)) {
      EXPECT_EQ(shard, key % 3);
      merged[key] = row;
    }
  }
  EXPECT_EQ(3000u, total);
  EXPECT_TRUE(Rows(*table) == merged);
}

}  // namespace
}  // namespace dips
