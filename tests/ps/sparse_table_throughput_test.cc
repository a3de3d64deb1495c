// Prints (does not assert) the in-memory table's pull and push throughput for
// 1M distinct keys, dim 18, Adagrad, on 1 and 2 threads, in request-sized
// calls. Labelled `perf` so the unit suite stays fast; the numbers depend on
// the machine and on whatever else runs on it.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/feature_key.h"
#include "ps/sparse_table.h"

namespace dips {
namespace {

constexpr size_t kKeys = 1 << 20;
constexpr size_t kKeysPerCall = 8192;  // a typical batch's unique keys per shard
constexpr int kDim = 18;

enum class Phase { kPullCreate, kPullWarm, kPush };

// Runs one phase over all keys split evenly across `threads`; keys/s.
double RunPhase(SparseTable* table, const std::vector<uint64_t>& keys, int threads, Phase phase) {
  std::vector<std::thread> workers;
  std::vector<Status> results(threads);
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const size_t begin = keys.size() * t / threads, end = keys.size() * (t + 1) / threads;
      std::vector<float> buffer(kKeysPerCall * kDim, 0.01f);
      std::vector<uint32_t> occurrences(kKeysPerCall, 1);
      for (size_t i = begin; i < end && results[t].ok(); i += kKeysPerCall) {
        const size_t n = std::min(kKeysPerCall, end - i);
        switch (phase) {
          case Phase::kPullCreate:
          case Phase::kPullWarm:
            results[t] = table->Pull(&keys[i], n, true, buffer.data(), nullptr);
            break;
          case Phase::kPush:
            results[t] = table->Push(&keys[i], n, buffer.data(), occurrences.data(), 1);
            break;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  return static_cast<double>(keys.size()) / seconds;
}

TEST(SparseTableThroughputTest, PullAndPushOneMillionKeys) {
  std::vector<uint64_t> keys(kKeys);
  for (size_t i = 0; i < kKeys; ++i) keys[i] = Mix64(i + 1);  // spread like feature hashes
  SparseTableOptions options;
  options.dim = kDim;
  options.optimizer.kind = SparseOptimizerKind::kAdagrad;
  for (int threads : {1, 2}) {
    StatusOr<std::unique_ptr<SparseTable>> table = SparseTable::Create(options);
    ASSERT_TRUE(table.ok());
    const double create = RunPhase(table->get(), keys, threads, Phase::kPullCreate);
    const double pull = RunPhase(table->get(), keys, threads, Phase::kPullWarm);
    const double push = RunPhase(table->get(), keys, threads, Phase::kPush);
    const SparseTableStats stats = (*table)->Stats();
    EXPECT_EQ(kKeys, stats.rows);
    std::printf("threads=%d  pull(create)=%.2fM keys/s  pull=%.2fM keys/s  "
                "push(adagrad)=%.2fM keys/s  rows=%llu  bytes/row=%.1f\n",
                threads, create / 1e6, pull / 1e6, push / 1e6,
                static_cast<unsigned long long>(stats.rows),
                static_cast<double>(stats.bytes) / stats.rows);
  }
}

}  // namespace
}  // namespace dips
