// MovieLens -> DIEN-format behaviour logs, following the DIN paper's
// MovieLens protocol (docs/datasets.md):
//   * per user, ratings ordered by timestamp (ties keep input order);
//   * every rating after the user's first is a sample: label = rating >=
//     positive_threshold, target = that movie, its category = the movie's
//     first listed genre in movies.csv;
//   * history = the user's earlier movies (the most recent max_history,
//     oldest first) with their categories;
//   * users go to train or test by a seeded hash of the user id.
// Malformed CSV lines are counted and skipped. Memory: about 24 bytes per
// rating plus the id tables.
#ifndef DIPS_TOOLS_MOVIELENS_H_
#define DIPS_TOOLS_MOVIELENS_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "tools/dataset_summary.h"
#include "tools/line_writer.h"

namespace dips {

struct MovieLensOptions {
  std::string ratings_path;  // userId,movieId,rating,timestamp (header optional; .gz ok)
  std::string movies_path;   // movieId,title,genres (header optional; .gz ok)
  std::string train_path;    // DIEN-format outputs (".gz" suffix: gzip)
  std::string test_path;
  double positive_threshold = 4.0;  // label 1 iff rating >= this
  int max_history = 100;
  double test_fraction = 0.2;  // share of users in the test file
  uint64_t seed = 1;           // of the user split
  // Category of movies absent from movies.csv or without genres.
  std::string default_category = "default_cat";
  size_t max_line_bytes = 1 << 20;
  LineWriterOptions writer;
};

StatusOr<DatasetSummary> ConvertMovieLens(const MovieLensOptions& options);

}  // namespace dips

#endif  // DIPS_TOOLS_MOVIELENS_H_
