// HashPartitioner: deterministic, in range, balanced on structured keys, and
// independent of the Mix64(key) bits the server's table uses for its slots.
#include "worker/client/partitioner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/feature_key.h"

namespace dips {
namespace {

// Chi-square statistic of `counts` against a uniform spread of `total`.
double ChiSquare(const std::vector<double>& counts, double total) {
  const double expected = total / counts.size();
  double chi2 = 0;
  for (double c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

TEST(HashPartitionerTest, DeterministicAndInRange) {
  for (int shards : {1, 2, 3, 7, 16}) {
    HashPartitioner a(shards), b(shards);
    for (uint64_t key = 0; key < 10000; ++key) {
      const int s = a.Shard(key * 0x10001);
      ASSERT_GE(s, 0);
      ASSERT_LT(s, shards);
      ASSERT_EQ(s, b.Shard(key * 0x10001));
    }
  }
}

TEST(HashPartitionerTest, BalancedOnSequentialKeys) {
  // Sequential raw integers are the worst case for a range or modulo split.
  // For S shards, chi-square has S-1 degrees of freedom; mean S-1, sd
  // sqrt(2(S-1)); 10 sd above the mean never happens for a uniform spread.
  const int kKeys = 200000;
  for (int shards : {2, 3, 8}) {
    HashPartitioner p(shards);
    std::vector<double> counts(shards, 0);
    for (uint64_t key = 0; key < kKeys; ++key) ++counts[p.Shard(key)];
    const double dof = shards - 1;
    EXPECT_LT(ChiSquare(counts, kKeys), dof + 10 * std::sqrt(2 * dof)) << shards << " shards";
  }
}

TEST(HashPartitionerTest, IndependentOfTableHashBits) {
  // The table places a row at slot Mix64(key) & mask and picks its lock
  // stripe from Mix64(key) >> 48. Within one shard those bits must still be
  // uniform, or a shard's rows would crowd part of its table.
  HashPartitioner p(2);
  const int kKeys = 200000;
  std::vector<double> low_bits(16, 0), stripe_bits(16, 0);
  int on_shard = 0;
  for (uint64_t i = 0; i < kKeys; ++i) {
    const uint64_t key = Mix64(i);  // feature keys are hashes already
    if (p.Shard(key) != 0) continue;
    ++on_shard;
    const uint64_t h = Mix64(key);
    ++low_bits[h & 15];
    ++stripe_bits[(h >> 48) & 15];
  }
  const double dof = 15;
  EXPECT_LT(ChiSquare(low_bits, on_shard), dof + 10 * std::sqrt(2 * dof));
  EXPECT_LT(ChiSquare(stripe_bits, on_shard), dof + 10 * std::sqrt(2 * dof));
}

}  // namespace
}  // namespace dips
