// The built-in synthetic dataset: DIPS-v1 behaviour logs (docs/log_format.md
// §2) with learnable structure that separates Base < DIN < DIEN. The model
// behind the data is described in docs/datasets.md; in short:
//   * items belong to categories and shops; category and item popularity are
//     Zipf-distributed;
//   * each user holds 2-4 interests (categories) that drift: every few
//     behaviours one interest is replaced, so the recent behaviours come from
//     the current interests and older ones from earlier interests;
//   * a sample is an impression of a target item after the user's history;
//     its click probability is sigmoid(logit) with logit =
//       bias + recent_weight * [target category among the last recent_window
//       behaviours] + older_weight * [target category only further back in the
//       history] + shop_weight * [target shop in the history]
//       + quality_weight * item quality + profile_weight * affinity(profile,
//       category) + hour_weight * cos(2 pi (hour - 20) / 24).
// Order-aware models (DIEN) see the recency term, attention (DIN) picks out
// single matching behaviours that sum pooling (Base) blurs.
// Deterministic for a seed: same options, same bytes. Single-threaded,
// streaming: memory is O(items + max samples of one user).
#ifndef DIPS_TOOLS_SYNTHETIC_H_
#define DIPS_TOOLS_SYNTHETIC_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "tools/dataset_summary.h"
#include "tools/line_writer.h"

namespace dips {

// Weights of the click model's logit (see the header comment).
struct ClickModelOptions {
  double bias = -2.0;
  double recent_weight = 2.6;   // target category in the last recent_window behaviours
  // Target category in the history, but not recently. 0 by default: an
  // interest the user has drifted away from no longer pulls, which is the
  // structure only an order-aware model (DIEN) can use (docs/datasets.md).
  double older_weight = 0.0;
  // Target shop anywhere in the history: loyalty to a shop, an exact match
  // that attention (DIN) picks out and sum pooling (Base) blurs.
  double shop_weight = 2.5;
  double quality_weight = 0.5;  // per-item quality, uniform in [-1, 1]
  double profile_weight = 0.4;  // affinity(age, gender, category) in {-1, 0, 1}
  double hour_weight = 0.3;     // peaks at 20:00
  int recent_window = 3;        // behaviours that count as "recent"
};

struct SyntheticOptions {
  // Output files (".gz" suffix: gzip). Both required.
  std::string train_path;
  std::string test_path;
  uint64_t seed = 1;

  // World size.
  int64_t users = 5000;
  int64_t items = 10000;
  int64_t shops = 2000;
  int64_t categories = 100;
  double category_zipf = 0.8;  // popularity exponent across categories
  double item_zipf = 1.0;      // popularity exponent of items within a category

  // Samples. Users go to the test side by a seeded hash of the user id
  // (tools/user_split.h); train_samples are spread evenly over train users,
  // test_samples over test users, so the counts are exact.
  int64_t train_samples = 300000;
  int64_t test_samples = 30000;
  double test_user_fraction = 0.1;

  // Histories: each sample keeps the most recent h behaviours, h uniform in
  // [min_history, max_history].
  int min_history = 5;
  int max_history = 50;
  int behaviours_between_samples = 2;  // new behaviours before each impression

  // Interests and their drift.
  int min_interests = 2;
  int max_interests = 4;
  int min_phase = 6;    // behaviours before one interest is replaced, uniform
  int max_phase = 16;   //   in [min_phase, max_phase]
  double explore_rate = 0.1;  // behaviour from a random popular category

  // Where impression targets come from: a current interest, the category of
  // a random history behaviour, otherwise a popular category.
  double target_current_rate = 0.3;
  double target_history_rate = 0.3;

  ClickModelOptions click;
  // Compute the oracle test AUC (keeps one float per test sample in memory).
  bool compute_oracle_auc = true;
  LineWriterOptions writer;
};

// Column header written as the first line of both files.
std::string SyntheticHeader();

// Writes the train and test files. InvalidArgument for inconsistent options,
// IOError when a file cannot be written.
StatusOr<DatasetSummary> GenerateSynthetic(const SyntheticOptions& options);

}  // namespace dips

#endif  // DIPS_TOOLS_SYNTHETIC_H_
