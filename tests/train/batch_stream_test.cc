#include "worker/train/batch_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
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

  std::unique_ptr<BatchStream> Open(int shuffle_buffer, uint64_t seed) {
    auto reader = LogReader::Open({path_}, ReaderOptions());
    EXPECT_TRUE(reader.ok());
    BatchStreamOptions o;
    o.batch_size = 7;
    o.shuffle_buffer = shuffle_buffer;
    o.shuffle_seed = seed;
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

}  // namespace
}  // namespace dips
