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

  std::unique_ptr<BatchStream> Open(int shuffle_buffer, uint64_t seed, int part = 0,
                                    int parts = 1) {
    ReaderOptions reader_options;
    reader_options.part_index = part;
    reader_options.num_parts = parts;
    auto reader = LogReader::Open({path_}, reader_options);
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

}  // namespace
}  // namespace dips
