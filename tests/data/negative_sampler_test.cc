#include "worker/data/negative_sampler.h"

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace dips {
namespace {

Behaviour B(uint64_t item) { return {item, item + 1000, item + 2000}; }

TEST(NegativeSamplerTest, DrawsInProportionToObservedFrequency) {
  NegativeSamplerOptions options;
  NegativeSampler pool(options);
  // Item 1 observed 3 times as often as item 2.
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) pool.Observe(B(1));
    pool.Observe(B(2));
  }
  const int kDraws = 100000;
  std::mt19937_64 rng(7);
  int ones = 0;
  for (int i = 0; i < kDraws; ++i) {
    const Behaviour d = pool.Sample(&rng, /*exclude_item_key=*/999);
    ASSERT_TRUE(d.item_key == 1 || d.item_key == 2);
    EXPECT_EQ(d.category_key, d.item_key + 1000);  // the triple stays together
    ones += d.item_key == 1;
  }
  // Binomial(n, p = 3/4): mean 75000, sd sqrt(n p (1-p)) ~ 137; allow 6 sd.
  const double sd = std::sqrt(kDraws * 0.75 * 0.25);
  EXPECT_NEAR(ones, 0.75 * kDraws, 6 * sd);
}

TEST(NegativeSamplerTest, RingKeepsOnlyTheMostRecentCapacity) {
  NegativeSamplerOptions options;
  options.capacity = 4;
  NegativeSampler pool(options);
  for (uint64_t i = 1; i <= 10; ++i) pool.Observe(B(i));
  EXPECT_EQ(pool.size(), 4u);
  std::mt19937_64 rng(1);
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 4000; ++i) ++seen[pool.Sample(&rng, 0).item_key];
  // Items 7..10 remain; with 4000 draws over 4 items each is drawn (the
  // chance one is missed is 4 * (3/4)^4000, i.e. zero in practice).
  EXPECT_EQ(seen.size(), 4u);
  for (const auto& [item, count] : seen) EXPECT_GE(item, 7u);
}

TEST(NegativeSamplerTest, ExcludedItemIsRedrawn) {
  NegativeSamplerOptions options;
  options.max_redraws = 64;  // 1 - 2^-65 per draw to escape a 50% item
  NegativeSampler pool(options);
  pool.Observe(B(1));
  pool.Observe(B(2));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(pool.Sample(&rng, 1).item_key, 2u);
}

TEST(NegativeSamplerTest, SampleManyExcludesPerDrawAndIsDeterministic) {
  NegativeSamplerOptions options;
  options.max_redraws = 64;  // as above: escaping a 50% item never fails in practice
  NegativeSampler pool(options);
  pool.Observe(B(1));
  pool.Observe(B(2));
  std::vector<uint64_t> exclude;
  for (int i = 0; i < 1000; ++i) exclude.push_back(i % 2 == 0 ? 1 : 2);
  std::vector<Behaviour> out(exclude.size()), again(exclude.size());
  std::mt19937_64 rng(5), rng_again(5);
  pool.SampleMany(&rng, exclude.data(), exclude.size(), out.data());
  pool.SampleMany(&rng_again, exclude.data(), exclude.size(), again.data());
  for (size_t i = 0; i < exclude.size(); ++i) {
    EXPECT_EQ(out[i].item_key, exclude[i] == 1 ? 2u : 1u) << i;
    EXPECT_EQ(out[i].item_key, again[i].item_key);
  }
}

TEST(NegativeSamplerTest, PoolOfOnlyTheExcludedItemStillReturns) {
  NegativeSampler pool(NegativeSamplerOptions{});
  pool.Observe(B(5));
  std::mt19937_64 rng(3);
  EXPECT_EQ(pool.Sample(&rng, 5).item_key, 5u);  // bounded redraws, no hang
}

TEST(NegativeSamplerTest, SameSeedSameDraws) {
  NegativeSampler a(NegativeSamplerOptions{}), b(NegativeSamplerOptions{});
  for (uint64_t i = 0; i < 500; ++i) {
    a.Observe(B(i % 37));
    b.Observe(B(i % 37));
  }
  std::mt19937_64 ra(11), rb(11), rc(12);
  int differs_from_other_seed = 0;
  for (int i = 0; i < 200; ++i) {
    const uint64_t x = a.Sample(&ra, 0).item_key;
    EXPECT_EQ(x, b.Sample(&rb, 0).item_key);
    differs_from_other_seed += x != a.Sample(&rc, 0).item_key;
  }
  EXPECT_GT(differs_from_other_seed, 0);
}

}  // namespace
}  // namespace dips
