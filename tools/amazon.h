// Amazon product data (McAuley 2014: reviews JSON lines + metadata as Python
// dict literals) -> DIEN-format behaviour logs, following the DIEN reference
// preparation (docs/datasets.md):
//   * category of an item = the last element of its FIRST category path,
//     categories[0][-1]; items without metadata (or without categories) get
//     default_category;
//   * per user, reviews ordered by unixReviewTime (ties keep input order);
//     users with fewer than 2 reviews are dropped;
//   * the last review is the target: one positive line (label 1) and one
//     negative line (label 0) whose item is drawn uniformly from the negative
//     pool (never the target item), with the same history: the earlier
//     reviews, the most recent max_history, oldest first;
//   * users go to train or test (~90/10) by a seeded hash of the user id.
// Truncated gzip input and malformed records are logged with their count;
// every complete, well-formed record is kept.
#ifndef DIPS_TOOLS_AMAZON_H_
#define DIPS_TOOLS_AMAZON_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "tools/dataset_summary.h"
#include "tools/line_writer.h"

namespace dips {

// What a negative item is drawn from.
enum class NegativePool {
  // Every review record counts once: items are drawn in proportion to their
  // review count, as the DIEN reference does (random choice from the list of
  // all reviewed asins). Default.
  kReviewRecords,
  // Every distinct reviewed item counts once.
  kDistinctItems,
};

struct AmazonOptions {
  std::string reviews_path;  // JSON object per line: reviewerID, asin, unixReviewTime
  std::string meta_path;     // Python dict per line: asin, categories
  std::string train_path;    // DIEN-format outputs (".gz" suffix: gzip)
  std::string test_path;
  int max_history = 100;
  double test_fraction = 0.1;  // share of users in the test file
  uint64_t seed = 1;           // of the user split and the negative sampling
  NegativePool negative_pool = NegativePool::kReviewRecords;
  std::string default_category = "default_cat";
  size_t max_line_bytes = 16 << 20;  // metadata lines can be long
  LineWriterOptions writer;
};

StatusOr<DatasetSummary> ConvertAmazon(const AmazonOptions& options);

}  // namespace dips

#endif  // DIPS_TOOLS_AMAZON_H_
