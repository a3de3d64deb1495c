// The in-memory sparse table alone, at the sizes a server shard holds: a
// table of --rows rows serves pulls and pushes of --batch unique keys drawn
// uniformly from them (sorted, as a worker sends them). At 10^6 rows and more
// the rows no longer fit in the caches, so every key costs two dependent
// memory accesses (its index entry, then its row); this prints what that
// path sustains, in keys/s, for each table size and row width.
//   build/bench/table_bench [--rows=100000,1000000,10000000 --dims=18,36
//                            --batch=4096 --trials=5 --optimizer=adam]
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "bench/call_rate.h"
#include "bench/flag_lists.h"
#include "common/feature_key.h"
#include "ps/sparse_table.h"

DEFINE_string(rows, "100000,1000000,10000000", "table sizes (rows), comma-separated");
DEFINE_string(dims, "18,36", "row widths (floats), comma-separated");
DEFINE_int32(batch, 4096, "unique keys per pull/push");
DEFINE_int32(trials, 5, "timed trials per measurement; the median is printed");
DEFINE_double(min_seconds, 0.3, "minimum duration of one trial");
DEFINE_string(optimizer, "adam", "sgd, adagrad, adam or ftrl");

namespace dips {
namespace {

template <typename Op>
double MedianRate(Op&& op) {
  std::vector<double> rates;
  for (int t = 0; t < FLAGS_trials; ++t) rates.push_back(CallRate(op, FLAGS_min_seconds));
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

void Run(int64_t rows, int dim, SparseOptimizerKind kind) {
  SparseTableOptions options;
  options.dim = dim;
  options.optimizer.kind = kind;
  auto table = SparseTable::Create(options).value();
  // Fill the table: every key pulled once with create.
  const int batch = FLAGS_batch;
  std::vector<uint64_t> keys(batch);
  std::vector<float> values(static_cast<size_t>(batch) * dim);
  for (int64_t first = 0; first < rows; first += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, rows - first));
    for (int i = 0; i < n; ++i) keys[i] = Mix64(static_cast<uint64_t>(first + i));
    CHECK(table->Pull(keys.data(), n, true, values.data(), nullptr).ok());
  }
  // Batches of unique keys drawn from the table, sorted.
  constexpr int kBatches = 64;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> pick(0, rows - 1);
  std::vector<std::vector<uint64_t>> batches(kBatches);
  for (auto& b : batches) {
    while (static_cast<int>(b.size()) < batch) {
      b.push_back(Mix64(static_cast<uint64_t>(pick(rng))));
      if (static_cast<int>(b.size()) == batch) {
        std::sort(b.begin(), b.end());
        b.erase(std::unique(b.begin(), b.end()), b.end());
      }
    }
  }
  std::vector<float> grads(values.size(), 1e-3f);
  std::vector<uint32_t> occurrences(batch, 1);
  int next = 0;
  int64_t step = 0;
  const double pull = MedianRate([&] {
    CHECK(table->Pull(batches[next].data(), batch, true, values.data(), nullptr).ok());
    next = (next + 1) % kBatches;
  });
  const double push = MedianRate([&] {
    CHECK(table->Push(batches[next].data(), batch, grads.data(), occurrences.data(), ++step)
              .ok());
    next = (next + 1) % kBatches;
  });
  const SparseTableStats stats = table->Stats();
  std::printf("%10lld %4d %10.1f | %12.3g %12.3g\n", static_cast<long long>(rows), dim,
              stats.bytes / 1048576.0, pull * batch, push * batch);
  std::fflush(stdout);
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  auto kind = dips::ParseSparseOptimizerKind(FLAGS_optimizer);
  if (!kind.ok()) {
    std::fprintf(stderr, "table_bench: %s\n", kind.status().ToString().c_str());
    return 2;
  }
  std::printf("optimizer %s, batch %d unique keys, median of %d trials\n",
              FLAGS_optimizer.c_str(), FLAGS_batch, FLAGS_trials);
  std::printf("%10s %4s %10s | %12s %12s\n", "rows", "dim", "table MiB", "pull keys/s",
              "push keys/s");
  for (int64_t rows : dips::ParsePositiveList(FLAGS_rows)) {
    for (int64_t dim : dips::ParsePositiveList(FLAGS_dims)) {
      dips::Run(rows, static_cast<int>(dim), *kind);
    }
  }
  return 0;
}
