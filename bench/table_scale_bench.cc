// Scale benchmark of one shard's sparse table: inserts --keys rows (dim 18,
// Adagrad: one push each), then serves batches of Zipf(--zipf) keys (pull
// with create, then push, as a training step does) for --serve_seconds from
// --threads threads. Prints insert time, keys/s, memory-tier hit rate, RSS
// (VmRSS now and VmHWM peak, from /proc/self/status) and disk bytes per row.
//   --memory_budget_mb=0   the memory table (everything in RAM)
//   --memory_budget_mb=M   the tiered table, M MiB of rows in memory, the rest
//                          in RocksDB under --dir (wiped first)
// Example (docs/tables.md):
//   build/bench/table_scale_bench --keys=200000000 --memory_budget_mb=2048
//     --dir=/tmp/dips_scale --threads=2 --serve_seconds=120
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "common/feature_key.h"
#include "ps/table_factory.h"

DEFINE_uint64(keys, 10000000, "rows to insert");
DEFINE_uint64(memory_budget_mb, 0, "0: memory table; otherwise the tiered table's row budget");
DEFINE_uint64(block_cache_mb, 512, "RocksDB block cache (tiered only)");
DEFINE_uint64(write_buffer_mb, 64, "RocksDB memtable size (tiered only)");
DEFINE_string(dir, "/tmp/dips_table_scale", "RocksDB directory (tiered only; wiped)");
DEFINE_int32(threads, 2, "client threads");
DEFINE_int32(stripes, 256, "table lock stripes");
DEFINE_double(zipf, 1.1, "Zipf exponent of the serve phase");
DEFINE_int32(batch, 4096, "keys drawn per serve call (deduplicated) and per insert call");
DEFINE_double(serve_seconds, 60, "length of the serve phase");

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// VmRSS and VmHWM of this process, in MiB.
void ReadRss(double* rss_mb, double* hwm_mb) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) *rss_mb = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) *hwm_mb = std::stod(line.substr(6)) / 1024;
  }
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

// Zipf(s) ranks in [1, n] by rejection-inversion (Hörmann & Derflinger
// 1996): O(1) per draw without a table of n probabilities.
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double s) : n_(n), s_(s) {
    h_x1_ = HIntegral(1.5) - 1.0;
    h_n_ = HIntegral(n + 0.5);
    threshold_ = 2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0));
  }
  uint64_t operator()(std::mt19937_64& rng) const {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (;;) {
      const double u = h_n_ + uniform(rng) * (h_x1_ - h_n_);
      const double x = HIntegralInverse(u);
      const uint64_t k =
          std::clamp<uint64_t>(static_cast<uint64_t>(std::max(x + 0.5, 1.0)), 1, n_);
      if (k - x <= threshold_ || u >= HIntegral(k + 0.5) - H(k)) return k;
    }
  }

 private:
  static double Helper1(double x) {
    return std::fabs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
  }
  static double Helper2(double x) {
    return std::fabs(x) > 1e-8 ? std::expm1(x) / x
                               : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
  }
  double H(double x) const { return std::exp(-s_ * std::log(x)); }
  double HIntegral(double x) const {
    const double log_x = std::log(x);
    return Helper2((1 - s_) * log_x) * log_x;
  }
  double HIntegralInverse(double x) const {
    const double t = std::max(x * (1 - s_), -1.0);
    return std::exp(Helper1(t) * x);
  }

  uint64_t n_;
  double s_, h_x1_, h_n_, threshold_;
};

// Row i's key: spread like feature hashes.
uint64_t KeyOf(uint64_t i) { return Mix64(i + 1); }

int Main() {
  ShardTableOptions options;
  options.table.dim = 18;
  options.table.optimizer.kind = SparseOptimizerKind::kAdagrad;
  options.table.num_stripes = FLAGS_stripes;
  options.memory_budget_bytes = FLAGS_memory_budget_mb << 20;
  options.rocksdb.dir = FLAGS_dir;
  options.rocksdb.block_cache_bytes = FLAGS_block_cache_mb << 20;
  options.rocksdb.write_buffer_bytes = FLAGS_write_buffer_mb << 20;
  StatusOr<std::unique_ptr<SparseTable>> opened = OpenShardTable(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  SparseTable* table = opened->get();
  const int dim = table->dim();
  const int threads = FLAGS_threads;
  const uint64_t n = FLAGS_keys;
  const bool tiered = FLAGS_memory_budget_mb > 0;
  std::printf("table=%s keys=%llu budget_mb=%llu block_cache_mb=%llu threads=%d zipf=%.2f\n",
              tiered ? "tiered" : "memory", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(FLAGS_memory_budget_mb),
              static_cast<unsigned long long>(FLAGS_block_cache_mb), threads, FLAGS_zipf);

  // Insert: every key pushed once, threads on disjoint ranges.
  std::atomic<uint64_t> inserted{0};
  std::atomic<bool> failed{false};
  const Clock::time_point insert_start = Clock::now();
  {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const uint64_t begin = n * t / threads, end = n * (t + 1) / threads;
        std::vector<uint64_t> keys(FLAGS_batch);
        std::vector<float> grads(static_cast<size_t>(FLAGS_batch) * dim, 0.01f);
        std::vector<uint32_t> occ(FLAGS_batch, 1);
        for (uint64_t i = begin; i < end && !failed; i += FLAGS_batch) {
          const size_t m = std::min<uint64_t>(FLAGS_batch, end - i);
          for (size_t j = 0; j < m; ++j) keys[j] = KeyOf(i + j);
          const Status s = table->Push(keys.data(), m, grads.data(), occ.data(), 0);
          if (!s.ok()) {
            std::fprintf(stderr, "insert: %s\n", s.ToString().c_str());
            failed = true;
          }
          const uint64_t done = inserted.fetch_add(m) + m;
          if (t == 0 && (i - begin) % (static_cast<uint64_t>(FLAGS_batch) * 2048) == 0 && done > 0) {
            double rss = 0, hwm = 0;
            ReadRss(&rss, &hwm);
            std::printf("  inserted %llu (%.0f keys/s) rss=%.0f MiB\n",
                        static_cast<unsigned long long>(done), done / SecondsSince(insert_start),
                        rss);
            std::fflush(stdout);
          }
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  if (failed) return 1;
  const double insert_seconds = SecondsSince(insert_start);
  double rss = 0, hwm = 0;
  ReadRss(&rss, &hwm);
  SparseTableStats before = table->Stats();
  std::printf("insert: %llu keys in %.1f s (%.0f keys/s); rows=%llu in_memory=%llu "
              "on_disk=%llu rss=%.0f MiB hwm=%.0f MiB\n",
              static_cast<unsigned long long>(n), insert_seconds, n / insert_seconds,
              static_cast<unsigned long long>(before.rows),
              static_cast<unsigned long long>(before.rows_in_memory),
              static_cast<unsigned long long>(before.rows_on_disk), rss, hwm);
  std::fflush(stdout);

  // Serve: Zipf batches, pull (create) + push, as training does.
  const ZipfSampler zipf(n, FLAGS_zipf);
  std::atomic<uint64_t> served{0};
  std::atomic<double> max_rss{0};
  const Clock::time_point serve_start = Clock::now();
  {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937_64 rng(1234 + t);
        std::vector<uint64_t> keys;
        std::vector<float> values(static_cast<size_t>(FLAGS_batch) * dim);
        std::vector<uint32_t> occ(FLAGS_batch, 1);
        for (int64_t step = 1; SecondsSince(serve_start) < FLAGS_serve_seconds && !failed;
             ++step) {
          keys.resize(FLAGS_batch);
          for (uint64_t& k : keys) k = KeyOf(zipf(rng) - 1);
          std::sort(keys.begin(), keys.end());
          keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
          Status s = table->Pull(keys.data(), keys.size(), true, values.data(), nullptr);
          if (s.ok()) {
            for (size_t i = 0; i < keys.size() * dim; ++i) values[i] *= 0.01f;
            s = table->Push(keys.data(), keys.size(), values.data(), occ.data(), step);
          }
          if (!s.ok()) {
            std::fprintf(stderr, "serve: %s\n", s.ToString().c_str());
            failed = true;
          }
          served += keys.size();
          if (t == 0 && step % 64 == 0) {
            double r = 0, h = 0;
            ReadRss(&r, &h);
            if (r > max_rss) max_rss = r;
          }
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  if (failed) return 1;
  const double serve_seconds = SecondsSince(serve_start);
  const SparseTableStats after = table->Stats();
  ReadRss(&rss, &hwm);
  const uint64_t hits = after.memory_hits - before.memory_hits;
  const uint64_t misses = after.memory_misses - before.memory_misses;
  std::printf("serve: %.0f keys/s (unique keys pulled and pushed per second, batches of %d "
              "draws), hit rate %.2f%%, loads %llu, spills %llu, rows=%llu\n",
              served / serve_seconds, FLAGS_batch, 100.0 * hits / std::max<uint64_t>(1, hits + misses),
              static_cast<unsigned long long>(after.disk_loads - before.disk_loads),
              static_cast<unsigned long long>(after.spills - before.spills),
              static_cast<unsigned long long>(after.rows));
  std::printf("memory: rss=%.0f MiB max_rss_serving=%.0f MiB hwm=%.0f MiB table_bytes=%.0f MiB\n",
              rss, max_rss.load(), hwm, after.bytes / 1048576.0);
  if (tiered) {
    const uint64_t du = DirBytes(FLAGS_dir);
    // Per row on disk: rows only in memory take no disk space yet.
    const double on_disk = static_cast<double>(std::max<uint64_t>(1, after.rows_on_disk));
    std::printf("disk: %.2f GiB in %s, %.1f bytes per row on disk (rocksdb live: %.1f) over "
                "%llu rows on disk\n",
                du / 1073741824.0, FLAGS_dir.c_str(), du / on_disk, after.disk_bytes / on_disk,
                static_cast<unsigned long long>(after.rows_on_disk));
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  return dips::Main();
}
