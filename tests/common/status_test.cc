#include "common/status.h"

#include <gtest/gtest.h>

namespace dips {
namespace {

StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgumentError("not positive: " + std::to_string(x));
  return x;
}

Status Doubles(int x, int* out) {
  ASSIGN_OR_RETURN(int v, ParsePositive(x));
  *out = 2 * v;
  return Status::OK();
}

TEST(StatusTest, OkAndErrorsFormat) {
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status::OK().ToString(), "OK");
  Status s = CorruptionError("bad crc in f.bin");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.ToString(), "Corruption: bad crc in f.bin");
}

TEST(StatusTest, StatusOrPropagates) {
  int out = 0;
  EXPECT_TRUE(Doubles(4, &out).ok());
  EXPECT_EQ(out, 8);
  Status s = Doubles(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "not positive: -1");
  EXPECT_EQ(out, 8);  // untouched on error
}

}  // namespace
}  // namespace dips
