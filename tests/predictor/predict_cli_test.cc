// `dips export` and `dips predict` entry points: a checkpoint on disk is
// exported by flags, and predict writes one line per input data line (nan
// for a malformed one), equal to the library's scores.
#include <fstream>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <gtest/gtest.h>

#include "tests/predictor/checkpoint_fixture.h"
#include "tools/predictor/predictor.h"
#include "tools/subcommands.h"

// Defined by worker/train_main.cc in the dips binary; predict reads it.
DEFINE_int32(batch_size, 128, "shared: samples per batch");

namespace dips {
namespace {

void SetFlag(const char* name, const std::string& value) {
  ASSERT_FALSE(gflags::SetCommandLineOption(name, value.c_str()).empty()) << name;
}

int Invoke(int (*command)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return command(static_cast<int>(argv.size()), argv.data());
}

TEST(PredictCliTest, ExportThenPredictAFile) {
  testing::FixtureOptions options;
  options.kind = ModelKind::kDien;
  options.train_samples = 256;
  options.test_samples = 50;
  auto fixture = testing::MakeFixture(options);
  ASSERT_TRUE(fixture.ok()) << fixture.status().ToString();
  const std::string root = testing::TempDir();
  ASSERT_TRUE(testing::WriteFixtureCheckpoint(*fixture, root, "", -1).ok());

  const std::string bundle = testing::TempDir() + "/bundle";
  SetFlag("checkpoint", root);
  SetFlag("out", bundle);
  SetFlag("min_count", "0");
  SetFlag("precision", "fp64");
  EXPECT_EQ(2, Invoke(RunExport, {"dips export"}));
  SetFlag("precision", "fp32");
  ASSERT_EQ(0, Invoke(RunExport, {"dips export"}));
  EXPECT_EQ(1, Invoke(RunExport, {"dips export"}));  // the bundle exists now

  const std::string dir = testing::TempDir();
  {
    std::ofstream input(dir + "/in.txt");
    input << fixture->header << "\n";
    for (size_t i = 0; i < fixture->test_lines.size(); ++i) {
      input << fixture->test_lines[i] << "\n";
      if (i == 10) input << "not\ta\tvalid\tline\n";
    }
  }
  SetFlag("bundle", bundle);
  SetFlag("input", dir + "/in.txt");
  SetFlag("output", dir + "/out.txt");
  SetFlag("batch_size", "8");
  SetFlag("with_label", "true");
  ASSERT_EQ(0, Invoke(RunPredict, {"dips predict"}));

  auto predictor = Predictor::Open(bundle, PredictorOptions());
  ASSERT_TRUE(predictor.ok());
  std::vector<float> want;
  ASSERT_TRUE((*predictor)->Score(fixture->test_samples, &want).ok());
  std::ifstream output(dir + "/out.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(output, line);) lines.push_back(line);
  ASSERT_EQ(want.size() + 1, lines.size());
  size_t sample = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 11) {
      EXPECT_EQ("nan\tnan", lines[i]);
      continue;
    }
    const size_t tab = lines[i].find('\t');
    ASSERT_NE(std::string::npos, tab) << lines[i];
    // %.9g round-trips a float exactly; the batches differ (8 vs 256), which
    // changes only the matrix kernels' summation order.
    EXPECT_NEAR(want[sample], std::stof(lines[i].substr(0, tab)), 1e-6) << i;
    EXPECT_EQ(fixture->test_samples[sample].label, std::stof(lines[i].substr(tab + 1)));
    ++sample;
  }

  // A log with other columns than the model's is refused, not mis-scored.
  std::ofstream(dir + "/other.txt") << "#dips-v1\tlabel\tuser\titem\tcategory\titem_history"
                                       "\tcategory_history\tprofile:zzz\n";
  SetFlag("input", dir + "/other.txt");
  EXPECT_EQ(1, Invoke(RunPredict, {"dips predict"}));
  SetFlag("bundle", dir);  // not a bundle
  EXPECT_EQ(1, Invoke(RunPredict, {"dips predict"}));
}

}  // namespace
}  // namespace dips
