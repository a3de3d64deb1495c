// `dips gen` and `dips convert` entry points: flags in, files and exit codes
// out. Flags are process-global, so each test sets every flag it relies on.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "tools/subcommands.h"
#include "tools/synthetic.h"

// In the dips binary these shared flags are defined by worker/train_main.cc
// (tools/gen_main.cc and tools/convert_main.cc declare them); this test links
// the tools alone, so it provides them.
DEFINE_uint64(seed, 1, "shared: seed");
DEFINE_int32(max_history, 100, "shared: most recent behaviours kept");

namespace dips {
namespace {

using testing_tools::ReadLines;
using testing_tools::TempDir;
using testing_tools::WriteFile;

void SetFlag(const char* name, const std::string& value) {
  ASSERT_FALSE(gflags::SetCommandLineOption(name, value.c_str()).empty()) << name;
}

int Invoke(int (*command)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return command(static_cast<int>(argv.size()), argv.data());
}

TEST(SubcommandsTest, GenWritesTrainAndTestFiles) {
  TempDir dir;
  const std::string out = dir.File("gen");  // created by the command
  SetFlag("out_dir", out);
  SetFlag("users", "200");
  SetFlag("train_samples", "1000");
  SetFlag("test_samples", "100");
  SetFlag("compress", "false");
  ASSERT_EQ(Invoke(RunGen, {"dips gen"}), 0);
  std::vector<std::string> train = ReadLines(out + "/train.txt");
  // max_history not given: gen's own default (50), not the shared flag's 100.
  size_t longest = 0;
  for (size_t i = 1; i < train.size(); ++i) {
    std::string history = testing_tools::Split(train[i], '\t')[5];
    longest = std::max<size_t>(longest, testing_tools::Split(history, '\x02').size());
  }
  EXPECT_EQ(longest, static_cast<size_t>(SyntheticOptions().max_history));
  std::vector<std::string> test = ReadLines(out + "/test.txt");
  ASSERT_EQ(train.size(), 1001u);  // header + samples
  ASSERT_EQ(test.size(), 101u);
  EXPECT_EQ(train[0] + "\n", SyntheticHeader());

  SetFlag("compress", "true");
  ASSERT_EQ(Invoke(RunGen, {"dips gen"}), 0);
  EXPECT_EQ(ReadLines(out + "/train.txt.gz"), train);  // same seed, same lines
  SetFlag("compress", "false");

  EXPECT_EQ(Invoke(RunGen, {"dips gen", "extra"}), 2);
  SetFlag("users", "0");
  EXPECT_EQ(Invoke(RunGen, {"dips gen"}), 1);
}

TEST(SubcommandsTest, ConvertMovieLensAndUsageErrors) {
  TempDir dir;
  WriteFile(dir.File("movies.csv"), "movieId,title,genres\n1,\"A, B\",Drama|War\n2,C,Comedy\n");
  WriteFile(dir.File("ratings.csv"), "userId,movieId,rating,timestamp\n7,1,4.5,1\n7,2,1,2\n");
  const std::string out = dir.File("ml");
  SetFlag("out_dir", out);
  SetFlag("input_dir", dir.path());
  SetFlag("test_fraction", "0");
  SetFlag("compress", "false");
  ASSERT_EQ(Invoke(RunConvert, {"dips convert", "movielens"}), 0);
  EXPECT_EQ(ReadLines(out + "/train.txt"),
            (std::vector<std::string>{"0\t7\t2\tComedy\t1\tDrama"}));
  EXPECT_TRUE(ReadLines(out + "/test.txt").empty());

  EXPECT_EQ(Invoke(RunConvert, {"dips convert"}), 2);
  EXPECT_EQ(Invoke(RunConvert, {"dips convert", "netflix"}), 2);
  SetFlag("reviews", "");
  EXPECT_EQ(Invoke(RunConvert, {"dips convert", "amazon"}), 1);  // --reviews missing
  SetFlag("input_dir", dir.File("missing"));
  EXPECT_EQ(Invoke(RunConvert, {"dips convert", "movielens"}), 1);
  SetFlag("test_fraction", "-1");
}

}  // namespace
}  // namespace dips
