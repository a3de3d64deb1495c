// The bundle's building blocks: fp16 conversion (checked against its
// definition, exhaustively where the space is small) and the sorted,
// memory-mapped rows file.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tools/bundle/embedding_file.h"
#include "tools/bundle/half.h"
#include "tests/common/temp_dirs.h"

namespace dips {
namespace {

TEST(HalfTest, EveryHalfSurvivesTheRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f)))) << h;
    } else {
      EXPECT_EQ(h, FloatToHalf(f)) << h;
    }
  }
}

TEST(HalfTest, KnownValuesFromTheDefinition) {
  EXPECT_EQ(0x3c00, FloatToHalf(1.0f));
  EXPECT_EQ(0xc000, FloatToHalf(-2.0f));
  EXPECT_EQ(0x7bff, FloatToHalf(65504.0f));             // largest finite
  EXPECT_EQ(0x7bff, FloatToHalf(65519.0f));             // still rounds down
  EXPECT_EQ(0x7c00, FloatToHalf(65520.0f));             // rounds to infinity
  EXPECT_EQ(0x0001, FloatToHalf(std::ldexp(1.0f, -24)));  // smallest subnormal
  EXPECT_EQ(0x0000, FloatToHalf(std::ldexp(1.0f, -26)));  // below half of it
  EXPECT_EQ(0x8000, FloatToHalf(-0.0f));
  EXPECT_EQ(0x7c00, FloatToHalf(std::numeric_limits<float>::infinity()));
  // Ties go to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(0x3c00, FloatToHalf(1.0f + std::ldexp(1.0f, -11)));
  EXPECT_EQ(0x3c02, FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)));
}

TEST(HalfTest, RoundsToTheNearestHalf) {
  // For random floats in the normal range the result is a nearest
  // representable half: its neighbours are no closer.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-14.0f, 15.0f);
  for (int i = 0; i < 100000; ++i) {
    const float f = std::exp2(exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
    const uint16_t h = FloatToHalf(f);
    const double err = std::fabs(double{HalfToFloat(h)} - f);
    for (int d : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>(h + d);
      if ((n & 0x7c00) == 0x7c00) continue;  // infinity / NaN neighbour
      EXPECT_LE(err, std::fabs(double{HalfToFloat(n)} - f)) << f;
    }
  }
}

std::string TempPath() {
  const std::string dir = testing_dirs::MakeTempDir("dips_bundle_format_");
  EXPECT_FALSE(dir.empty());
  return dir + "/embeddings.rows";
}

TEST(EmbeddingFileTest, FindsEveryRowAndNothingElse) {
  for (auto precision : {bundle::ROW_PRECISION_FP32, bundle::ROW_PRECISION_FP16}) {
    const int dim = 5;
    std::vector<uint64_t> keys;
    std::vector<float> values;
    for (uint64_t k = 0; k < 1000; ++k) {
      keys.push_back(k * 7919 + 3);
      for (int d = 0; d < dim; ++d) values.push_back(0.001f * static_cast<float>(k) - d);
    }
    const std::string path = TempPath();
    auto digest = WriteEmbeddingFile(path, dim, precision, keys.data(), values.data(), keys.size());
    ASSERT_TRUE(digest.ok()) << digest.status().ToString();
    EXPECT_EQ(64u + 16u + keys.size() * (8 + dim * (precision ? 2 : 4)), digest->bytes);
    auto file = EmbeddingFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(1000u, (*file)->rows());
    EXPECT_EQ(precision, (*file)->precision());
    std::vector<float> row(dim);
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE((*file)->Lookup(keys[i], row.data()));
      for (int d = 0; d < dim; ++d) {
        const float want = values[i * dim + d];
        if (precision == bundle::ROW_PRECISION_FP32) {
          EXPECT_EQ(want, row[d]);
        } else {
          EXPECT_EQ(HalfToFloat(FloatToHalf(want)), row[d]);
        }
      }
      EXPECT_FALSE((*file)->Lookup(keys[i] + 1, row.data()));
    }
    EXPECT_FALSE((*file)->Lookup(0, row.data()));
    EXPECT_FALSE((*file)->Lookup(~0ULL, row.data()));
  }
}

TEST(EmbeddingFileTest, EmptyFileAndUnsortedKeys) {
  const std::string path = TempPath();
  ASSERT_TRUE(WriteEmbeddingFile(path, 3, bundle::ROW_PRECISION_FP32, nullptr, nullptr, 0).ok());
  auto file = EmbeddingFile::Open(path);
  ASSERT_TRUE(file.ok());
  float row[3];
  EXPECT_FALSE((*file)->Lookup(1, row));
  const uint64_t keys[] = {5, 5};
  const float values[6] = {};
  EXPECT_EQ(StatusCode::kInvalidArgument,
            WriteEmbeddingFile(path, 3, bundle::ROW_PRECISION_FP32, keys, values, 2).status().code());
}

TEST(EmbeddingFileTest, StructuralDamageIsCorruption) {
  const std::string path = TempPath();
  std::vector<uint64_t> keys = {1, 2, 3, 4};
  std::vector<float> values(4 * 2, 0.5f);
  ASSERT_TRUE(WriteEmbeddingFile(path, 2, bundle::ROW_PRECISION_FP32, keys.data(), values.data(), 4).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto damaged = [&](size_t offset, char bits) {
    std::string bytes = good;
    bytes[offset] ^= bits;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return EmbeddingFile::Open(path).status().code();
  };
  EXPECT_EQ(StatusCode::kCorruption, damaged(0, 1));        // magic
  EXPECT_EQ(StatusCode::kCorruption, damaged(24, 1));       // row count
  EXPECT_EQ(StatusCode::kCorruption, damaged(64 + 8, 0x40));  // key 2 > key 3
  EXPECT_EQ(StatusCode::kCorruption, damaged(good.size() - 9, 1));  // footer
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() - 4);
  EXPECT_EQ(StatusCode::kCorruption, EmbeddingFile::Open(path).status().code());
  EXPECT_EQ(StatusCode::kNotFound, EmbeddingFile::Open(path + ".absent").status().code());
}

}  // namespace
}  // namespace dips
