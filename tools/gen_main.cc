// `dips gen`: writes the built-in synthetic dataset (tools/synthetic.h).
//   dips gen --out_dir=DIR [--users=N --train_samples=N --test_samples=N
//            --seed=S --max_history=N --compress ...]
// Output: DIR/train.txt and DIR/test.txt (DIPS-v1 format).
// The flags out_dir, test_fraction and compress are shared with `dips
// convert` (tools/convert_main.cc declares them). --seed and --max_history
// are shared by train, gen and convert and defined once, in
// worker/train_main.cc; a subcommand uses its own default for max_history
// when the flag is not given (100 for train/convert, 50 for gen).
#include <cstdio>

#include <gflags/gflags.h>

#include "tools/subcommands.h"
#include "tools/synthetic.h"
#include "tools/tool_paths.h"

DEFINE_string(out_dir, "", "convert/gen: directory for train.txt and test.txt");
DECLARE_uint64(seed);
DECLARE_int32(max_history);
DEFINE_double(test_fraction, -1.0,
              "convert/gen: fraction of users in the test file (negative: the default, "
              "0.2 movielens, 0.1 amazon, 0.1 gen)");
DEFINE_bool(compress, false, "convert/gen: write train.txt.gz/test.txt.gz (gzip)");

DEFINE_int64(users, 5000, "gen: number of users");
DEFINE_int64(items, 10000, "gen: number of items");
DEFINE_int64(shops, 2000, "gen: number of shops");
DEFINE_int64(categories, 100, "gen: number of categories");
DEFINE_int64(train_samples, 300000, "gen: samples in train.txt");
DEFINE_int64(test_samples, 30000, "gen: samples in test.txt");
DEFINE_int32(min_history, 5, "gen: shortest history of a sample");
DEFINE_double(explore_rate, 0.1, "gen: share of behaviours outside the user's interests");
DEFINE_double(target_current_rate, 0.3, "gen: share of targets from a current interest");
DEFINE_double(target_history_rate, 0.3, "gen: share of targets from a history category");
DEFINE_double(click_bias, -2.0, "gen: bias of the click logit");
DEFINE_double(recent_weight, 2.6, "gen: logit weight, target category in the recent window");
DEFINE_double(older_weight, 0.0, "gen: logit weight, target category only in older history");
DEFINE_double(shop_weight, 2.5, "gen: logit weight, target shop in the history");
DEFINE_int32(recent_window, 3, "gen: behaviours that count as recent");

namespace dips {

int RunGen(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "dips gen: unexpected argument '%s' (gen takes only flags)\n", argv[1]);
    return 2;
  }
  StatusOr<OutputPaths> paths = PrepareOutputDir(FLAGS_out_dir, FLAGS_compress);
  if (!paths.ok()) {
    std::fprintf(stderr, "dips gen: %s\n", paths.status().ToString().c_str());
    return 1;
  }
  SyntheticOptions options;
  options.train_path = paths->train;
  options.test_path = paths->test;
  options.seed = FLAGS_seed;
  options.users = FLAGS_users;
  options.items = FLAGS_items;
  options.shops = FLAGS_shops;
  options.categories = FLAGS_categories;
  options.train_samples = FLAGS_train_samples;
  options.test_samples = FLAGS_test_samples;
  if (FLAGS_test_fraction >= 0.0) options.test_user_fraction = FLAGS_test_fraction;
  gflags::CommandLineFlagInfo max_history;
  if (gflags::GetCommandLineFlagInfo("max_history", &max_history) && !max_history.is_default) {
    options.max_history = FLAGS_max_history;
  }
  options.min_history = FLAGS_min_history;
  options.explore_rate = FLAGS_explore_rate;
  options.target_current_rate = FLAGS_target_current_rate;
  options.target_history_rate = FLAGS_target_history_rate;
  options.click.bias = FLAGS_click_bias;
  options.click.recent_weight = FLAGS_recent_weight;
  options.click.older_weight = FLAGS_older_weight;
  options.click.shop_weight = FLAGS_shop_weight;
  options.click.recent_window = FLAGS_recent_window;

  StatusOr<DatasetSummary> summary = GenerateSynthetic(options);
  if (!summary.ok()) {
    std::fprintf(stderr, "dips gen: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  PrintDatasetSummary(*summary, stdout);
  return 0;
}

}  // namespace dips
