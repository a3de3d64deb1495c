#include "worker/train/batch_stream.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/feature_key.h"

namespace dips {
namespace {

class BatchStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/dips_batch_stream_test_XXXXXX";
    path_ = std::string(mkdtemp(dir_template)) + "/log.txt";
    std::ofstream out(path_);
    // One sample per user u0..u(n-1): the user key identifies the line.
    for (int i = 0; i < kLines; ++i) out << (i % 2) << "\tu" << i << "\ti1\tc1\ti2\tc2\n";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(path_.substr(0, path_.rfind('/')).c_str());
  }

  // User keys in the order the stream delivers them, over one pass.
  std::vector<uint64_t> Pass(BatchStream* stream) {
    std::vector<uint64_t> users;
    EXPECT_TRUE(stream->StartPass().ok());
    Batch batch;
    while (true) {
      StatusOr<bool> more = stream->Next(&batch);
      EXPECT_TRUE(more.ok()) << more.status().ToString();
      if (!more.ok() || !*more) break;
      users.insert(users.end(), batch.user_keys.begin(), batch.user_keys.end());
    }
    return users;
  }

  std::unique_ptr<BatchStream> Open(int shuffle_buffer, uint64_t seed, int part = 0,
                                    int parts = 1, int queue_depth = 8,
                                    int background_depth = 0, int fill_threads = 1) {
    ReaderOptions reader_options;
    reader_options.part_index = part;
    reader_options.num_parts = parts;
    auto reader = LogReader::Open({path_}, reader_options);
    EXPECT_TRUE(reader.ok());
    BatchStreamOptions o;
    o.batch_size = 7;
    o.shuffle_buffer = shuffle_buffer;
    o.shuffle_seed = seed;
    o.queue_depth = queue_depth;
    o.background_depth = background_depth;
    o.fill_threads = fill_threads;
    return std::make_unique<BatchStream>(std::move(*reader), o);
  }

  static constexpr int kLines = 500;
  std::string path_;
};

TEST_F(BatchStreamTest, UnshuffledKeepsFileOrder) {
  auto stream = Open(0, 1);
  std::vector<uint64_t> users = Pass(stream.get());
  ASSERT_EQ(users.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    EXPECT_EQ(users[i], FeatureKey(kUserField, "u" + std::to_string(i)));
  }
}

TEST_F(BatchStreamTest, ShuffleDeliversEverySampleOnceInAnotherOrder) {
  std::vector<uint64_t> expected;
  for (int i = 0; i < kLines; ++i) expected.push_back(FeatureKey(kUserField, "u" + std::to_string(i)));
  for (int buffer : {2, 64, 10000}) {  // smaller than, and larger than, the file
    auto stream = Open(buffer, 3);
    std::vector<uint64_t> users = Pass(stream.get());
    ASSERT_EQ(users.size(), expected.size()) << "buffer " << buffer;
    EXPECT_NE(users, expected) << "buffer " << buffer << " left the order unchanged";
    std::vector<uint64_t> sorted_users = users, sorted_expected = expected;
    std::sort(sorted_users.begin(), sorted_users.end());
    std::sort(sorted_expected.begin(), sorted_expected.end());
    EXPECT_EQ(sorted_users, sorted_expected) << "buffer " << buffer;
  }
}

TEST_F(BatchStreamTest, ShuffleIsReproducibleAndDiffersBetweenPasses) {
  auto a = Open(64, 9);
  auto b = Open(64, 9);
  std::vector<uint64_t> a1 = Pass(a.get()), a2 = Pass(a.get());
  std::vector<uint64_t> b1 = Pass(b.get());
  EXPECT_EQ(a1, b1);  // same seed, same first pass
  EXPECT_NE(a1, a2);  // the second pass is shuffled anew
}

// Parsing the shuffle buffer's fill on several threads changes nothing that
// is delivered: buffers larger than the file, than a fill chunk, and small.
TEST_F(BatchStreamTest, FillThreadsKeepTheSamplesAndTheirOrder) {
  for (int buffer : {10000, 300, 5}) {
    auto one = Open(buffer, 4, 0, 1, 8, 0, /*fill_threads=*/1);
    auto three = Open(buffer, 4, 0, 1, 8, 0, /*fill_threads=*/3);
    const std::vector<uint64_t> one_first = Pass(one.get());
    EXPECT_EQ(one_first.size(), static_cast<size_t>(kLines));
    EXPECT_EQ(Pass(three.get()), one_first) << "buffer " << buffer;
    EXPECT_EQ(Pass(three.get()), Pass(one.get())) << "buffer " << buffer << ", second pass";
  }
}

// Two workers read every other line. With the same seed their passes pair
// up line 2k with line 2k+1 at every position (neighbouring samples, in a
// log sorted by user: the same user's); PartShuffleSeed breaks the pairing.
TEST_F(BatchStreamTest, ReaderPartsAreShuffledIndependently) {
  auto paired = [&](uint64_t seed0, uint64_t seed1) {
    const std::vector<uint64_t> a = Pass(Open(10000, seed0, 0, 2).get());
    const std::vector<uint64_t> b = Pass(Open(10000, seed1, 1, 2).get());
    EXPECT_EQ(a.size(), b.size());
    int count = 0;
    for (size_t j = 0; j < a.size() && j < b.size(); ++j) {
      for (int i = 0; i + 1 < kLines; i += 2) {
        if (a[j] == FeatureKey(kUserField, "u" + std::to_string(i))) {
          count += b[j] == FeatureKey(kUserField, "u" + std::to_string(i + 1));
          break;
        }
      }
    }
    return count;
  };
  EXPECT_EQ(kLines / 2, paired(7, 7));  // the hazard: one seed for every part
  EXPECT_LT(paired(PartShuffleSeed(7, 0), PartShuffleSeed(7, 1)), 10);
  EXPECT_EQ(7u, PartShuffleSeed(7, 0));
}

TEST_F(BatchStreamTest, HelpProduceIsFalseOutsideAPass) {
  auto stream = Open(64, 5);
  EXPECT_FALSE(stream->HelpProduce());  // no pass started
  Pass(stream.get());
  EXPECT_FALSE(stream->HelpProduce());  // the pass is over
}

// The background thread keeps one batch queued; a helper fills the rest of
// the queue. The batches come out in the order, and with the samples, a
// stream without helpers delivers.
TEST_F(BatchStreamTest, HelpersFillTheQueueInTheStreamsOrder) {
  const std::vector<uint64_t> expected = Pass(Open(64, 11).get());
  auto stream = Open(64, 11, 0, 1, /*queue_depth=*/3, /*background_depth=*/1);
  ASSERT_TRUE(stream->StartPass().ok());
  // The background thread may hold the building lock now and then, so a
  // single call may decline; the queue holds 3 batches once full, one of
  // them perhaps the background thread's.
  int helped = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (helped < 2 && std::chrono::steady_clock::now() < deadline) {
    if (stream->HelpProduce()) ++helped;
  }
  // Let the background thread finish a batch it may have started; with
  // one queued it builds no more, so what declines now is a full queue.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  while (stream->HelpProduce()) ++helped;
  EXPECT_GE(helped, 2);
  EXPECT_LE(helped, 3);
  EXPECT_FALSE(stream->HelpProduce());
  std::vector<uint64_t> users;
  Batch batch;
  while (true) {
    StatusOr<bool> more = stream->Next(&batch);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    users.insert(users.end(), batch.user_keys.begin(), batch.user_keys.end());
  }
  EXPECT_EQ(users, expected);
}

// Helpers on other threads, concurrently with the consumer, change nothing
// in what the pass delivers.
TEST_F(BatchStreamTest, ConcurrentHelpersKeepThePass) {
  const std::vector<uint64_t> expected = Pass(Open(64, 13).get());
  auto stream = Open(64, 13, 0, 1, /*queue_depth=*/4, /*background_depth=*/1);
  ASSERT_TRUE(stream->StartPass().ok());
  std::atomic<bool> stop{false};
  std::atomic<int> helped{0};
  std::vector<std::thread> helpers;
  for (int h = 0; h < 2; ++h) {
    helpers.emplace_back([&] {
      while (!stop.load()) {
        if (stream->HelpProduce()) helped.fetch_add(1);
      }
    });
  }
  std::vector<uint64_t> users;
  Batch batch;
  while (true) {
    StatusOr<bool> more = stream->Next(&batch);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    users.insert(users.end(), batch.user_keys.begin(), batch.user_keys.end());
  }
  stop.store(true);
  for (std::thread& t : helpers) t.join();
  EXPECT_EQ(users, expected);
  EXPECT_GT(helped.load(), 0);
  std::printf("helpers built %d of %zu batches\n", helped.load(), (users.size() + 6) / 7);
}

}  // namespace
}  // namespace dips
