// PsClient against real PsServer shards over tcp://127.0.0.1 with CURVE:
// results equal direct table calls bit for bit, under concurrency too; Stats,
// Barrier and Shutdown; a stopped shard gives DeadlineExceeded in time.
#include "worker/client/ps_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "common/feature_key.h"
#include "tests/client/test_shards.h"

namespace dips {
namespace {

SparseTableOptions AdamTable(int dim) {
  SparseTableOptions options;
  options.dim = dim;
  options.optimizer.kind = SparseOptimizerKind::kAdam;
  options.optimizer.learning_rate = 0.01f;
  options.init_seed = 7;
  return options;
}

std::vector<uint64_t> RandomKeys(size_t n, uint64_t seed) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = Mix64(seed * 1000003 + i);
  return keys;
}

std::vector<float> RandomGrads(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> grads(n);
  for (float& g : grads) g = normal(rng);
  return grads;
}

// Same bytes, so the same floats bit for bit (NaN-safe, -0 vs +0 distinct).
template <typename T>
void ExpectBitEqual(const std::vector<T>& a, const std::vector<T>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(T)));
}

// Pulls and pushes of 3000 keys through `num_shards` shards, split into
// requests of at most `max_keys_per_request` keys per shard, against one
// table called directly.
void ExpectDirectTableResults(int num_shards, size_t max_keys_per_request) {
  SCOPED_TRACE(testing::Message() << num_shards << " shards, requests of at most "
                                  << max_keys_per_request << " keys");
  constexpr int kDim = 18;
  const JobKeys keys = NewJobKeys();
  TestShards shards(num_shards, AdamTable(kDim), keys);
  PsClientOptions options = shards.ClientOptions(keys, kDim);
  options.max_keys_per_request = max_keys_per_request;
  auto client = PsClient::Create(options).value();
  // The reference: one table with the same options, called directly. Rows
  // depend only on their key and its own pushes, so one table equals the
  // union of the shards.
  auto reference = SparseTable::Create(AdamTable(kDim)).value();

  const size_t n = 3000;
  const std::vector<uint64_t> batch = RandomKeys(n, 1);
  for (int step = 0; step < 3; ++step) {
    std::vector<float> got(n * kDim), want(n * kDim);
    std::vector<uint64_t> got_counts(n), want_counts(n);
    ASSERT_TRUE(client->Wait(client->Pull(batch.data(), n, true, got.data(), got_counts.data()))
                    .ok());
    ASSERT_TRUE(reference->Pull(batch.data(), n, true, want.data(), want_counts.data()).ok());
    ExpectBitEqual(got, want);
    ExpectBitEqual(got_counts, want_counts);

    const std::vector<float> grads = RandomGrads(n * kDim, 100 + step);
    std::vector<uint32_t> occurrences(n);
    for (size_t i = 0; i < n; ++i) occurrences[i] = 1 + (i % 3);
    ASSERT_TRUE(client->Wait(client->Push(batch.data(), n, grads.data(), occurrences.data(), step))
                    .ok());
    ASSERT_TRUE(reference->Push(batch.data(), n, grads.data(), occurrences.data(), step).ok());
  }
  // The rows live on every shard, each key on exactly one.
  uint64_t rows = 0;
  for (int shard = 0; shard < num_shards; ++shard) {
    const ShardStats stats = client->Stats(shard).value();
    rows += stats.rows;
    EXPECT_GT(stats.rows, n / (num_shards + 1));
    EXPECT_EQ(stats.requests_rejected, 0u);
  }
  EXPECT_EQ(rows, n);
  // The rows after the last push (which no pull above has seen yet).
  std::vector<float> got(n * kDim), want(n * kDim);
  ASSERT_TRUE(client->Wait(client->Pull(batch.data(), n, false, got.data(), nullptr)).ok());
  ASSERT_TRUE(reference->Pull(batch.data(), n, false, want.data(), nullptr).ok());
  ExpectBitEqual(got, want);
}

TEST(PsClientTest, PullPushMatchDirectTableBitForBit) { ExpectDirectTableResults(2, 8192); }

// Split requests: scattered positions (2 shards) and contiguous runs (1
// shard), each with a shorter last part.
TEST(PsClientTest, SplitRequestsMatchDirectTableBitForBit) {
  ExpectDirectTableResults(2, 700);
  ExpectDirectTableResults(1, 1000);
  ExpectDirectTableResults(1, 999);
}

// Shard = key parity: the test picks which shards a call's keys reach.
class ParityPartitioner : public Partitioner {
 public:
  int num_shards() const override { return 2; }
  int Shard(uint64_t key) const override { return static_cast<int>(key & 1); }
};

// Keys [first, first + n) whose parity is `parity` (0 or 1), or any (-1).
std::vector<uint64_t> KeysOf(uint64_t first, size_t n, int parity) {
  std::vector<uint64_t> out;
  for (uint64_t k = first; out.size() < n; ++k) {
    if (parity < 0 || static_cast<int>(k & 1) == parity) out.push_back(k);
  }
  return out;
}

// PushThenPull's rows include its push, as Push, Wait, Pull do: on shards
// that get both (one PUSH_PULL each, longer than max_keys_per_request),
// that get only the push, and that get only the pull (those two split
// into parts); occurrences and counts too.
TEST(PsClientTest, PushThenPullMatchesPushWaitPullBitForBit) {
  constexpr int kDim = 18;
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(kDim), keys);
  PsClientOptions options = shards.ClientOptions(keys, kDim);
  options.max_keys_per_request = 300;
  options.partitioner = std::make_shared<ParityPartitioner>();
  auto client = PsClient::Create(options).value();
  auto reference = SparseTable::Create(AdamTable(kDim)).value();

  struct Round {
    const char* what;
    std::vector<uint64_t> push, pull;
  };
  const std::vector<Round> rounds = {
      {"both shards, overlapping keys", KeysOf(0, 1000, -1), KeysOf(500, 1000, -1)},
      {"push on shard 0 only", KeysOf(0, 700, 0), KeysOf(0, 900, -1)},
      {"pull on shard 1 only", KeysOf(0, 800, -1), KeysOf(1, 650, 1)},
      {"nothing to push", {}, KeysOf(0, 400, -1)},
      {"nothing to pull", KeysOf(0, 400, -1), {}},
  };
  for (size_t r = 0; r < rounds.size(); ++r) {
    SCOPED_TRACE(rounds[r].what);
    const std::vector<uint64_t>& push_keys = rounds[r].push;
    const std::vector<uint64_t>& pull_keys = rounds[r].pull;
    const std::vector<float> grads = RandomGrads(push_keys.size() * kDim, 200 + r);
    std::vector<uint32_t> occurrences(push_keys.size());
    for (size_t i = 0; i < occurrences.size(); ++i) occurrences[i] = 1 + (i % 4);
    const size_t m = pull_keys.size();
    std::vector<float> got(m * kDim), want(m * kDim);
    std::vector<uint64_t> got_counts(m), want_counts(m);
    const PushArgs push{push_keys.data(), push_keys.size(), grads.data(), occurrences.data(),
                        static_cast<int64_t>(r)};
    const PullArgs pull{pull_keys.data(), m, true, got.data(), got_counts.data()};
    const PushPullTickets tickets = client->PushThenPull(push, pull);
    ASSERT_TRUE(client->Wait(tickets.pull).ok());
    ASSERT_TRUE(client->Wait(tickets.push).ok());
    ASSERT_TRUE(reference
                    ->Push(push_keys.data(), push_keys.size(), grads.data(), occurrences.data(),
                           static_cast<int64_t>(r))
                    .ok());
    ASSERT_TRUE(reference->Pull(pull_keys.data(), m, true, want.data(), want_counts.data()).ok());
    ExpectBitEqual(got, want);
    ExpectBitEqual(got_counts, want_counts);
  }
  // Every key pushed ended on its shard: compare all rows once more.
  const std::vector<uint64_t> all = KeysOf(0, 1500, -1);
  std::vector<float> got(all.size() * kDim), want(all.size() * kDim);
  ASSERT_TRUE(client->Wait(client->Pull(all.data(), all.size(), false, got.data(), nullptr)).ok());
  ASSERT_TRUE(reference->Pull(all.data(), all.size(), false, want.data(), nullptr).ok());
  ExpectBitEqual(got, want);
  for (int shard = 0; shard < 2; ++shard) {
    EXPECT_EQ(client->Stats(shard).value().requests_rejected, 0u) << "shard " << shard;
  }
}

// A PushThenPull whose push the server refuses fails both tickets on that
// shard, and pulls nothing into the caller's buffer there.
TEST(PsClientTest, PushThenPullFailsBothTicketsWhereThePushFails) {
  constexpr int kDim = 4;
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, AdamTable(kDim), keys);
  auto client = PsClient::Create(shards.ClientOptions(keys, kDim)).value();
  const uint64_t key = 5;
  const float grads[kDim] = {std::numeric_limits<float>::infinity(), 0, 0, 0};
  float row[kDim] = {-7, -7, -7, -7};
  const PushPullTickets tickets =
      client->PushThenPull(PushArgs{&key, 1, grads, nullptr, 0}, PullArgs{&key, 1, true, row});
  EXPECT_EQ(client->Wait(tickets.push).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Wait(tickets.pull).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(row[0], -7.0f);
  EXPECT_EQ(shards.table(0)->Stats().rows, 0u);
  // Null arguments fail both tickets at once.
  const PushPullTickets bad = client->PushThenPull(PushArgs{&key, 1, nullptr, nullptr, 0},
                                                   PullArgs{&key, 1, true, row});
  EXPECT_EQ(client->Wait(bad.push).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Wait(bad.pull).code(), StatusCode::kInvalidArgument);
}

// Admission and shrink counters travel in the STATS reply: a key admitted
// on its 2nd sighting, a push to a key not yet admitted, a shrink pass.
TEST(PsClientTest, StatsCarryAdmissionAndShrinkCounters) {
  constexpr int kDim = 4;
  const JobKeys keys = NewJobKeys();
  SparseTableOptions table_options = AdamTable(kDim);
  table_options.admit_after = 2;
  TestShards shards(1, table_options, keys);
  auto client = PsClient::Create(shards.ClientOptions(keys, kDim)).value();
  const uint64_t key = 77;
  std::vector<float> values(kDim), grads(kDim, 0.5f);
  ASSERT_TRUE(client->Wait(client->Pull(&key, 1, true, values.data(), nullptr)).ok());
  ASSERT_TRUE(client->Wait(client->Push(&key, 1, grads.data(), nullptr, 3)).ok());
  ShardStats stats = client->Stats(0).value();
  EXPECT_EQ(1u, stats.admissions);
  EXPECT_EQ(1u, stats.unadmitted_pulls);
  EXPECT_EQ(0u, stats.unadmitted_pushes);
  EXPECT_EQ(1u, stats.rows);
  EXPECT_EQ(1u, stats.rows_in_memory);
  EXPECT_EQ(3, stats.latest_step);
  ShrinkOptions shrink;
  shrink.min_count = 1;  // the row's count is 0: it goes
  ASSERT_TRUE(shards.table(0)->Shrink(shrink).ok());
  stats = client->Stats(0).value();
  EXPECT_EQ(0u, stats.rows);
  EXPECT_EQ(1u, stats.evictions);
  EXPECT_EQ(1u, stats.shrink_passes);
}

TEST(PsClientTest, EvaluationPullDoesNotCreateRows) {
  constexpr int kDim = 4;
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(kDim), keys);
  auto client = PsClient::Create(shards.ClientOptions(keys, kDim)).value();
  const std::vector<uint64_t> batch = RandomKeys(100, 2);
  std::vector<float> got(batch.size() * kDim), want(batch.size() * kDim);
  ASSERT_TRUE(client->Wait(client->Pull(batch.data(), batch.size(), false, got.data(), nullptr))
                  .ok());
  for (size_t i = 0; i < batch.size(); ++i) {
    InitialRowValues(AdamTable(kDim), batch[i], want.data() + i * kDim);
  }
  ExpectBitEqual(got, want);
  EXPECT_EQ(client->Stats(0).value().rows + client->Stats(1).value().rows, 0u);
}

TEST(PsClientTest, ConcurrentCallersMatchSequentialReference) {
  constexpr int kDim = 36;
  constexpr int kThreads = 4;
  constexpr int kSteps = 5;
  constexpr size_t kKeys = 500;
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(kDim), keys);
  auto client = PsClient::Create(shards.ClientOptions(keys, kDim)).value();
  auto reference = SparseTable::Create(AdamTable(kDim)).value();

  // Each thread owns a disjoint key set, so the interleaving of threads
  // cannot change any row: the reference replays each thread's calls.
  std::vector<std::thread> threads;
  std::vector<std::string> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<uint64_t> mine = RandomKeys(kKeys, 10 + t);
      std::vector<float> rows(kKeys * kDim);
      for (int step = 0; step < kSteps; ++step) {
        // Pull and the previous push in flight together, as a trainer does.
        const Ticket pull = client->Pull(mine.data(), kKeys, true, rows.data(), nullptr);
        const std::vector<float> grads = RandomGrads(kKeys * kDim, t * 100 + step);
        Status s = client->Wait(pull);
        if (s.ok()) s = client->Wait(client->Push(mine.data(), kKeys, grads.data(), nullptr, step));
        if (!s.ok()) {
          failures[t] = s.ToString();
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(failures[t], "") << "thread " << t;
  for (int t = 0; t < kThreads; ++t) {
    const std::vector<uint64_t> mine = RandomKeys(kKeys, 10 + t);
    std::vector<float> rows(kKeys * kDim);
    for (int step = 0; step < kSteps; ++step) {
      ASSERT_TRUE(reference->Pull(mine.data(), kKeys, true, rows.data(), nullptr).ok());
      const std::vector<float> grads = RandomGrads(kKeys * kDim, t * 100 + step);
      ASSERT_TRUE(reference->Push(mine.data(), kKeys, grads.data(), nullptr, step).ok());
    }
    std::vector<float> got(kKeys * kDim), want(kKeys * kDim);
    ASSERT_TRUE(client->Wait(client->Pull(mine.data(), kKeys, false, got.data(), nullptr)).ok());
    ASSERT_TRUE(reference->Pull(mine.data(), kKeys, false, want.data(), nullptr).ok());
    ExpectBitEqual(got, want);
  }
}

TEST(PsClientTest, EmptyAndInvalidCalls) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(4), keys);
  auto client = PsClient::Create(shards.ClientOptions(keys, 4)).value();
  EXPECT_TRUE(client->Wait(client->Pull(nullptr, 0, true, nullptr, nullptr)).ok());
  const uint64_t key = 1;
  EXPECT_EQ(client->Wait(client->Push(&key, 1, nullptr, nullptr, 0)).code(),
            StatusCode::kInvalidArgument);
  const Ticket t = client->Pull(nullptr, 0, true, nullptr, nullptr);
  EXPECT_TRUE(client->Wait(t).ok());
  EXPECT_EQ(client->Wait(t).code(), StatusCode::kInvalidArgument);  // already waited
  EXPECT_EQ(client->Stats(2).status().code(), StatusCode::kInvalidArgument);
  // A non-finite gradient is the server's to refuse; the error names the shard.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float grads[4] = {nan, 0, 0, 0};
  const Status s = client->Wait(client->Push(&key, 1, grads, nullptr, 0));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tcp://127.0.0.1:"), std::string::npos) << s.ToString();
}

TEST(PsClientTest, BarrierWaitsForEveryClientAndShutdownStopsServers) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(4), keys, /*expected_clients=*/2);
  PsClientOptions options = shards.ClientOptions(keys, 4);
  options.client_id = 0;
  auto first = PsClient::Create(options).value();
  options.client_id = 1;
  auto second = PsClient::Create(options).value();

  std::atomic<bool> first_passed{false};
  std::thread waiter([&] {
    EXPECT_TRUE(first->Barrier().ok());
    first_passed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(first_passed.load()) << "barrier opened with one of two clients";
  EXPECT_TRUE(second->Barrier().ok());
  waiter.join();
  EXPECT_TRUE(first_passed.load());

  EXPECT_TRUE(first->Shutdown().ok());
  EXPECT_TRUE(second->Shutdown().ok());
  for (const Status& s : shards.JoinAll()) EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(PsClientTest, StoppedServerGivesDeadlineExceededNamingEndpoint) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(2, AdamTable(4), keys);
  PsClientOptions options = shards.ClientOptions(keys, 4);
  options.request_timeout_ms = 300;
  auto client = PsClient::Create(options).value();
  ASSERT_TRUE(client->Stats(1).ok());
  ASSERT_TRUE(shards.StopShard(1).ok());

  const std::vector<uint64_t> batch = RandomKeys(200, 3);
  std::vector<float> rows(batch.size() * 4);
  const auto start = std::chrono::steady_clock::now();
  const Status s = client->Wait(client->Pull(batch.data(), batch.size(), true, rows.data(), nullptr));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_NE(s.message().find(shards.server(1)->endpoint()), std::string::npos) << s.ToString();
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::milliseconds(300 + 1000));
  // The live shard still answers.
  EXPECT_TRUE(client->Stats(0).ok());
}

}  // namespace
}  // namespace dips
