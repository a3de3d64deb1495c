// Checkpoint cost of one shard: fills a table with --keys pushed rows (18
// floats + optimiser state each), writes a full row file, updates
// --changed_fraction of the rows and writes an incremental one, then
// restores the chain into a fresh table (each file verified against its
// digest first, as a resume does). Prints times, bytes, bytes per row,
// keys/s and peak RSS.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/row_file.h"
#include "ps/sparse_table.h"

DEFINE_int64(keys, 20000000, "rows in the shard");
DEFINE_int32(dim, 18, "floats per embedding row");
DEFINE_string(optimizer, "adagrad", "sparse optimiser (sets the state stored per row)");
DEFINE_double(changed_fraction, 0.01, "rows updated between the full and incremental files");
DEFINE_string(dir, "out/checkpoint_bench", "where the row files go (deleted at the end)");

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

int Run() {
  SparseTableOptions options;
  options.dim = FLAGS_dim;
  auto kind = ParseSparseOptimizerKind(FLAGS_optimizer);
  CHECK(kind.ok()) << kind.status().ToString();
  options.optimizer.kind = *kind;
  CHECK(MakeDirs(FLAGS_dir).ok());
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
