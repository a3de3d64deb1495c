// `dips convert`: raw public datasets -> DIEN-format behaviour logs.
//   dips convert movielens --input_dir=DIR --out_dir=OUT
//       DIR holds ratings.csv and movies.csv (MovieLens "latest" layout).
//   dips convert amazon --reviews=FILE --meta=FILE --out_dir=OUT
//       reviews_*.json(.gz) and meta_*.json(.gz) of the 2014 Amazon dump.
// Output: OUT/train.txt and OUT/test.txt (".txt.gz" with --compress).
// The flags out_dir, test_fraction and compress are defined in
// tools/gen_main.cc (shared with `dips gen`); seed and max_history in
// worker/train_main.cc (shared by all three subcommands).
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gflags/gflags.h>

#include "tools/amazon.h"
#include "tools/movielens.h"
#include "tools/subcommands.h"
#include "tools/tool_paths.h"

DECLARE_string(out_dir);
DECLARE_uint64(seed);
DECLARE_int32(max_history);
DECLARE_double(test_fraction);
DECLARE_bool(compress);

DEFINE_string(input_dir, "", "convert movielens: directory with ratings.csv and movies.csv");
DEFINE_double(positive_threshold, 4.0, "convert movielens: label 1 iff rating >= this");
DEFINE_string(reviews, "", "convert amazon: reviews file (JSON lines, .gz ok)");
DEFINE_string(meta, "", "convert amazon: metadata file (Python dict lines, .gz ok)");
DEFINE_string(negative_pool, "reviews",
              "convert amazon: negatives drawn uniformly from 'reviews' (every review record, "
              "as DIEN does) or 'items' (every distinct reviewed item)");

namespace dips {
namespace {

constexpr char kUsage[] =
    "usage: dips convert movielens --input_dir=DIR --out_dir=OUT\n"
    "       dips convert amazon --reviews=FILE --meta=FILE --out_dir=OUT\n";

bool FlagIsDefault(const char* name) {
  gflags::CommandLineFlagInfo info;
  return gflags::GetCommandLineFlagInfo(name, &info) && info.is_default;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "dips convert: %s\n", status.ToString().c_str());
  return 1;
}

int Finish(const StatusOr<DatasetSummary>& summary) {
  if (!summary.ok()) return Fail(summary.status());
  PrintDatasetSummary(*summary, stdout);
  return 0;
}

int ConvertMovieLensCommand(const OutputPaths& paths) {
  if (FLAGS_input_dir.empty()) return Fail(InvalidArgumentError("--input_dir is required"));
  std::filesystem::path dir(FLAGS_input_dir);
  MovieLensOptions options;
  options.ratings_path = (dir / "ratings.csv").string();
  options.movies_path = (dir / "movies.csv").string();
  options.train_path = paths.train;
  options.test_path = paths.test;
  options.positive_threshold = FLAGS_positive_threshold;
  options.seed = FLAGS_seed;
  if (!FlagIsDefault("max_history")) options.max_history = FLAGS_max_history;
  if (FLAGS_test_fraction >= 0.0) options.test_fraction = FLAGS_test_fraction;
  return Finish(ConvertMovieLens(options));
}

int ConvertAmazonCommand(const OutputPaths& paths) {
  if (FLAGS_reviews.empty() || FLAGS_meta.empty()) {
    return Fail(InvalidArgumentError("--reviews and --meta are required"));
  }
  AmazonOptions options;
  options.reviews_path = FLAGS_reviews;
  options.meta_path = FLAGS_meta;
  options.train_path = paths.train;
  options.test_path = paths.test;
  options.seed = FLAGS_seed;
  if (!FlagIsDefault("max_history")) options.max_history = FLAGS_max_history;
  if (FLAGS_test_fraction >= 0.0) options.test_fraction = FLAGS_test_fraction;
  if (FLAGS_negative_pool == "reviews") {
    options.negative_pool = NegativePool::kReviewRecords;
  } else if (FLAGS_negative_pool == "items") {
    options.negative_pool = NegativePool::kDistinctItems;
  } else {
    return Fail(InvalidArgumentError("--negative_pool must be 'reviews' or 'items', got '" +
                                     FLAGS_negative_pool + "'"));
  }
  return Finish(ConvertAmazon(options));
}

}  // namespace

int RunConvert(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "movielens") != 0 && std::strcmp(argv[1], "amazon") != 0)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  StatusOr<OutputPaths> paths = PrepareOutputDir(FLAGS_out_dir, FLAGS_compress);
  if (!paths.ok()) return Fail(paths.status());
  return std::strcmp(argv[1], "movielens") == 0 ? ConvertMovieLensCommand(*paths)
                                                 : ConvertAmazonCommand(*paths);
}

}  // namespace dips
