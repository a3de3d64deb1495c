// DatasetSummary: what a converter or the generator produced, for the log and
// for tests. One struct for all three producers; fields a producer does not
// use stay zero and are not printed.
#ifndef DIPS_TOOLS_DATASET_SUMMARY_H_
#define DIPS_TOOLS_DATASET_SUMMARY_H_

#include <cstdint>
#include <cstdio>
#include <string>

namespace dips {

struct DatasetSummary {
  std::string source;        // "movielens", "amazon", "synthetic"
  std::string train_path;
  std::string test_path;

  // Input side (converters).
  int64_t records_read = 0;      // complete input records parsed successfully
  int64_t records_skipped = 0;   // malformed or overlong lines/records
  int64_t meta_records_read = 0;     // Amazon metadata records parsed
  int64_t meta_records_skipped = 0;  // Amazon metadata records malformed
  bool input_truncated = false;  // an input ended early (truncated gzip)
  int64_t users_dropped = 0;     // users with too few behaviours for a sample
  int64_t items_without_category = 0;  // distinct items that got the default category

  // Output side.
  int64_t users = 0;  // users with at least one written sample
  int64_t train_users = 0;
  int64_t test_users = 0;
  int64_t items = 0;       // distinct items (behaviours + targets)
  int64_t categories = 0;  // distinct categories
  int64_t shops = 0;       // distinct shops (generator only)
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  int64_t train_positives = 0;
  int64_t test_positives = 0;
  int64_t history_behaviours = 0;  // sum of history lengths over all samples
  uint64_t bytes_written = 0;      // uncompressed output bytes

  // Generator only: AUC on the test file of the true click probability, the
  // best any model can reach on it; negative when not computed.
  double oracle_test_auc = -1.0;
  double seconds = 0.0;  // wall time of the whole run
};

// Multi-line, human-readable summary (ends with '\n').
std::string FormatDatasetSummary(const DatasetSummary& summary);
// Writes FormatDatasetSummary(summary) to `out` (e.g. stdout).
void PrintDatasetSummary(const DatasetSummary& summary, std::FILE* out);

}  // namespace dips

#endif  // DIPS_TOOLS_DATASET_SUMMARY_H_
