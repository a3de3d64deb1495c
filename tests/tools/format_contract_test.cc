// The tools' output must be accepted by the training reader: every line the
// generator and the converters write parses with worker/data/log_parser.h.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/tools/test_util.h"
#include "tools/movielens.h"
#include "tools/synthetic.h"
#include "worker/data/log_parser.h"

namespace dips {
namespace {

using testing_tools::ReadLines;
using testing_tools::TempDir;
using testing_tools::WriteFile;

void ExpectAllLinesParse(const std::vector<std::string>& lines, const LogSchema& schema,
                         int max_history) {
  LogParser parser(schema, max_history);
  Sample sample;
  std::string detail;
  for (size_t i = 0; i < lines.size(); ++i) {
    LineError error = parser.Parse(lines[i], &sample, &detail);
    ASSERT_EQ(error, LineError::kOk) << "line " << i << ": " << LineErrorName(error) << " "
                                     << detail;
    ASSERT_EQ(sample.item_history.size(), sample.category_history.size());
  }
}

TEST(FormatContractTest, SyntheticFilesParse) {
  TempDir dir;
  SyntheticOptions o;
  o.train_path = dir.File("train.txt");
  o.test_path = dir.File("test.txt");
  o.users = 300;
  o.train_samples = 20000;
  o.test_samples = 2000;
  ASSERT_TRUE(GenerateSynthetic(o).ok());
  for (const std::string& path : {o.train_path, o.test_path}) {
    std::vector<std::string> lines = ReadLines(path);
    ASSERT_GT(lines.size(), 1u);
    StatusOr<LogSchema> schema = ParseHeader(lines[0]);
    ASSERT_TRUE(schema.ok()) << schema.status().ToString();
    EXPECT_TRUE(schema->has_shop);
    EXPECT_EQ(schema->extra_fields,
              (std::vector<std::string>{"profile:age", "profile:gender", "context:hour"}));
    lines.erase(lines.begin());
    ExpectAllLinesParse(lines, *schema, o.max_history);
  }
}

TEST(FormatContractTest, MovieLensFilesParse) {
  TempDir dir;
  WriteFile(dir.File("movies.csv"),
            "movieId,title,genres\n1,\"A, B (1999)\",Drama|War\n2,C (2000),(no genres listed)\n");
  WriteFile(dir.File("ratings.csv"), "userId,movieId,rating,timestamp\n7,1,4.5,1\n7,2,1,2\n"
                                     "7,3,3,3\n8,2,5,1\n8,1,5,1\n");
  MovieLensOptions o;
  o.ratings_path = dir.File("ratings.csv");
  o.movies_path = dir.File("movies.csv");
  o.train_path = dir.File("train.txt");
  o.test_path = dir.File("test.txt");
  o.test_fraction = 0.5;
  StatusOr<DatasetSummary> s = ConvertMovieLens(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<std::string> lines = ReadLines(o.train_path);
  std::vector<std::string> test = ReadLines(o.test_path);
  lines.insert(lines.end(), test.begin(), test.end());
  EXPECT_EQ(static_cast<int64_t>(lines.size()), s->train_samples + s->test_samples);
  ExpectAllLinesParse(lines, LogSchema{}, o.max_history);
}

}  // namespace
}  // namespace dips
