// Checkpoint cost of one shard: fills a table with --keys pushed rows (18
// floats + optimiser state each), checkpoints it, updates
// --changed_fraction of the rows and checkpoints again, then restores.
// Prints times, bytes, bytes per row, keys/s and peak RSS.
//
//   --memory_budget_mb=0  memory table: a full row file, an incremental one,
//                         and a restore of the chain into a fresh table
//                         (each file verified against its digest first).
//   --memory_budget_mb=M  tiered table (M MiB of rows in memory, the rest in
//                         RocksDB under --dir): two RocksDB checkpoints
//                         (ps/checkpoint/shard_checkpoint.h), a verification
//                         of every file as a resume does, a restore by
//                         seeding a new tier from the second checkpoint, and
//                         (--import_restore) a restore by importing its rows
//                         into a fresh tiered table (the reshard path).
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/row_file.h"
#include "ps/checkpoint/shard_checkpoint.h"
#include "ps/sparse_table.h"
#include "ps/rocksdb_tier.h"
#include "ps/table_factory.h"

DEFINE_int64(keys, 20000000, "rows in the shard");
DEFINE_int32(dim, 18, "floats per embedding row");
DEFINE_string(optimizer, "adagrad", "sparse optimiser (sets the state stored per row)");
DEFINE_double(changed_fraction, 0.01, "rows updated between the full and incremental files");
DEFINE_string(dir, "out/checkpoint_bench", "where the files go (deleted at the end)");
DEFINE_uint64(memory_budget_mb, 0, "0: memory table; otherwise the tiered table's row budget");
DEFINE_uint64(block_cache_mb, 512, "RocksDB block cache (tiered only)");
DEFINE_bool(import_restore, true, "tiered: also restore by importing the rows into a new table");

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// VmHWM (peak resident set) in MiB.
double PeakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

// Pushes keys [first, first + n) * stride with a fixed gradient at `step`.
void PushRange(SparseTable* table, int64_t first, int64_t n, int64_t stride, int64_t step) {
  constexpr int64_t kBatch = 65536;
  std::vector<uint64_t> keys(kBatch);
  std::vector<float> grads(kBatch * FLAGS_dim, 0.01f);
  std::vector<uint32_t> occurrences(kBatch, 1);
  for (int64_t begin = 0; begin < n; begin += kBatch) {
    const int64_t count = std::min(kBatch, n - begin);
    for (int64_t i = 0; i < count; ++i) {
      keys[i] = static_cast<uint64_t>((first + begin + i) * stride) * 0x9E3779B97F4A7C15ULL + 1;
    }
    CHECK(table->Push(keys.data(), count, grads.data(), occurrences.data(), step).ok());
  }
}

// Bytes of a checkpoint's files: all of them, those that are the only link
// to their inode (copied or written for this checkpoint, not hard-linked),
// and those whose inode no earlier checkpoint of this run had.
struct Footprint {
  uint64_t logical = 0;
  uint64_t unlinked = 0;
  uint64_t fresh = 0;
};
Footprint Measure(const std::string& dir, const ShardCheckpoint& shard,
                  std::vector<uint64_t>* inodes_seen) {
  Footprint f;
  std::vector<uint64_t> inodes;
  for (const ShardCheckpointFile& file : shard.files) {
    struct stat st;
    CHECK_EQ(0, ::stat((dir + "/" + file.name).c_str(), &st));
    f.logical += file.digest.bytes;
    if (st.st_nlink == 1) f.unlinked += file.digest.bytes;
    if (std::find(inodes_seen->begin(), inodes_seen->end(), st.st_ino) == inodes_seen->end()) {
      f.fresh += file.digest.bytes;
    }
    inodes.push_back(st.st_ino);
  }
  inodes_seen->insert(inodes_seen->end(), inodes.begin(), inodes.end());
  return f;
}

ckpt::Manifest ManifestFor(const ShardCheckpoint& shard, int64_t step, SparseOptimizerKind kind) {
  ckpt::Manifest manifest;
  manifest.set_format_version(kCheckpointFormatVersion);
  manifest.set_step(step);
  manifest.set_since_step(-1);
  manifest.set_num_shards(1);
  manifest.set_dim(FLAGS_dim);
  manifest.set_sparse_optimizer(SparseOptimizerName(kind));
  manifest.set_state_floats_per_weight(StateFloatsPerWeight(kind));
  AddShardToManifest(shard, &manifest);
  return manifest;
}

std::unique_ptr<SparseTable> OpenTiered(const SparseTableOptions& table, const std::string& dir,
                                        bool seeded) {
  ShardTableOptions options;
  options.table = table;
  options.table.num_stripes = 256;
  options.memory_budget_bytes = FLAGS_memory_budget_mb << 20;
  options.rocksdb.dir = dir;
  options.rocksdb.block_cache_bytes = FLAGS_block_cache_mb << 20;
  options.rocksdb.keep_existing = seeded;
  options.rocksdb.seeded_from_checkpoint = seeded;
  auto opened = OpenShardTable(options);
  CHECK(opened.ok()) << opened.status().ToString();
  return std::move(opened).value();
}

int RunTiered(const SparseTableOptions& options) {
  const SparseOptimizerKind kind = options.optimizer.kind;
  const std::string root = FLAGS_dir + "/ckpt";
  std::unique_ptr<SparseTable> table = OpenTiered(options, FLAGS_dir + "/live", false);
  auto start = Clock::now();
  PushRange(table.get(), 0, FLAGS_keys, 1, 1);
  const double fill_s = Since(start);

  ShardCheckpointWriter writer;
  std::vector<uint64_t> inodes;
  auto save = [&](int64_t step, double* seconds, Footprint* footprint) {
    const std::string name = CheckpointName(step);
    CHECK(MakeDirs(JoinPath(root, name)).ok());
    const auto t = Clock::now();
    auto shard = writer.Write(table.get(), ShardCheckpointOptions{kind, -1, 0, 1},
                              JoinPath(root, name));
    CHECK(shard.ok()) << shard.status().ToString();
    CHECK(CommitManifest(root, name, ManifestFor(*shard, step, kind)).ok());
    *seconds = Since(t);
    *footprint = Measure(JoinPath(root, name), *shard, &inodes);
    return *shard;
  };
  double full_s = 0, inc_s = 0;
  Footprint full_bytes, inc_bytes;
  const ShardCheckpoint full = save(1, &full_s, &full_bytes);
  const int64_t changed = static_cast<int64_t>(FLAGS_keys * FLAGS_changed_fraction);
  PushRange(table.get(), 0, changed, static_cast<int64_t>(1 / FLAGS_changed_fraction), 2);
  const ShardCheckpoint second = save(2, &inc_s, &inc_bytes);
  const double rss_before_restore = PeakRssMiB();
  table.reset();

  start = Clock::now();
  auto chain = VerifyCheckpoint(root, CheckpointName(2));
  CHECK(chain.ok()) << chain.status().ToString();
  const double verify_s = Since(start);

  start = Clock::now();
  CHECK(RocksTier::SeedFromCheckpoint(JoinPath(chain->newest_dir(), second.rocksdb_dir),
                                      FLAGS_dir + "/seeded")
            .ok());
  std::unique_ptr<SparseTable> seeded = OpenTiered(options, FLAGS_dir + "/seeded", true);
  const double seed_s = Since(start);
  CHECK_EQ(static_cast<uint64_t>(FLAGS_keys), seeded->Stats().rows);
  seeded.reset();

  double import_s = 0;
  if (FLAGS_import_restore) {
    std::unique_ptr<SparseTable> imported = OpenTiered(options, FLAGS_dir + "/imported", false);
    start = Clock::now();
    auto rows = RestoreRows(*chain, kind, {}, imported.get());
    CHECK(rows.ok()) << rows.status().ToString();
    import_s = Since(start);
    CHECK_EQ(static_cast<uint64_t>(FLAGS_keys), imported->Stats().rows);
  }

  std::printf("checkpoint_bench: tiered, %lld keys, dim %d, %s state (%d floats/row), "
              "budget %llu MiB\n",
              static_cast<long long>(FLAGS_keys), FLAGS_dim, FLAGS_optimizer.c_str(),
              FLAGS_dim * (1 + StateFloatsPerWeight(kind)),
              static_cast<unsigned long long>(FLAGS_memory_budget_mb));
  std::printf("fill (push every key once): %.1f s, %.0f keys/s\n", fill_s, FLAGS_keys / fill_s);
  std::printf("full RocksDB checkpoint: %.1f s (flush, checkpoint, CRC of every file), "
              "%zu files, %.2f GB = %.1f bytes/row, of which %.3f GB in files that are not "
              "hard links\n",
              full_s, full.files.size(), full_bytes.logical / 1e9,
              static_cast<double>(full_bytes.logical) / FLAGS_keys, full_bytes.unlinked / 1e9);
  std::printf("second checkpoint after %lld rows changed: %.1f s, %zu files, %.2f GB, %.3f GB "
              "in files the first did not have\n",
              static_cast<long long>(changed), inc_s, second.files.size(),
              inc_bytes.logical / 1e9, inc_bytes.fresh / 1e9);
  std::printf("verify every file's CRC (resume's first step): %.1f s\n", verify_s);
  std::printf("restore by seeding a tier from the checkpoint and opening it: %.1f s\n", seed_s);
  if (FLAGS_import_restore) {
    std::printf("restore by importing the rows into a new tiered table: %.1f s, %.0f keys/s\n",
                import_s, FLAGS_keys / import_s);
  }
  std::printf("peak RSS: %.0f MiB while writing, %.0f MiB overall\n", rss_before_restore,
              PeakRssMiB());
  std::error_code ignored;
  std::filesystem::remove_all(FLAGS_dir, ignored);
  return 0;
}

int Run() {
  SparseTableOptions options;
  options.dim = FLAGS_dim;
  auto kind = ParseSparseOptimizerKind(FLAGS_optimizer);
  CHECK(kind.ok()) << kind.status().ToString();
  options.optimizer.kind = *kind;
  CHECK(MakeDirs(FLAGS_dir).ok());
  if (FLAGS_memory_budget_mb > 0) return RunTiered(options);
  auto table = SparseTable::Create(options);
  CHECK(table.ok());

  auto start = Clock::now();
  PushRange(table->get(), 0, FLAGS_keys, 1, 1);
  const double fill_s = Since(start);

  RowFileOptions row_options;
  row_options.optimizer = *kind;
  const std::string full_path = FLAGS_dir + "/full.rows";
  start = Clock::now();
  auto full = WriteRowFile(**table, row_options, full_path);
  CHECK(full.ok()) << full.status().ToString();
  const double full_s = Since(start);

  const int64_t changed = static_cast<int64_t>(FLAGS_keys * FLAGS_changed_fraction);
  PushRange(table->get(), 0, changed, static_cast<int64_t>(1 / FLAGS_changed_fraction), 2);
  row_options.since_step = 1;
  const std::string inc_path = FLAGS_dir + "/incremental.rows";
  start = Clock::now();
  auto inc = WriteRowFile(**table, row_options, inc_path);
  CHECK(inc.ok()) << inc.status().ToString();
  const double inc_s = Since(start);
  const double rss_before_restore = PeakRssMiB();
  table->reset();

  auto restored = SparseTable::Create(options);
  CHECK(restored.ok());
  start = Clock::now();
  CHECK(LoadRowFile(full_path, &full->digest, *kind, {}, restored->get()).ok());
  CHECK(LoadRowFile(inc_path, &inc->digest, *kind, {}, restored->get()).ok());
  const double restore_s = Since(start);
  CHECK_EQ(static_cast<uint64_t>(FLAGS_keys), (*restored)->Stats().rows);

  std::printf("checkpoint_bench: %lld keys, dim %d, %s state (%d floats/row)\n",
              static_cast<long long>(FLAGS_keys), FLAGS_dim, FLAGS_optimizer.c_str(),
              FLAGS_dim * (1 + StateFloatsPerWeight(*kind)));
  std::printf("fill (push every key once): %.1f s, %.0f keys/s\n", fill_s, FLAGS_keys / fill_s);
  std::printf("full checkpoint: %.1f s, %.0f keys/s, %.2f GB, %.1f bytes/row\n", full_s,
              FLAGS_keys / full_s, full->digest.bytes / 1e9,
              static_cast<double>(full->digest.bytes) / FLAGS_keys);
  std::printf("incremental (%lld rows changed): %.1f s, %.3f GB\n",
              static_cast<long long>(inc->rows), inc_s, inc->digest.bytes / 1e9);
  std::printf("restore full + incremental (checksums verified first): %.1f s, %.0f keys/s\n",
              restore_s, FLAGS_keys / restore_s);
  std::printf("peak RSS: %.0f MiB while writing, %.0f MiB overall\n", rss_before_restore,
              PeakRssMiB());
  std::remove(full_path.c_str());
  std::remove(inc_path.c_str());
  return 0;
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  return dips::Run();
}
