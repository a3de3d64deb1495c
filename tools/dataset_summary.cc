#include "tools/dataset_summary.h"

#include <cinttypes>
#include <cstdarg>

namespace dips {
namespace {

void AppendF(std::string* out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void AppendF(std::string* out, const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  if (n > 0) out->append(buf, static_cast<size_t>(n) < sizeof(buf) ? n : sizeof(buf) - 1);
}

double Ratio(int64_t num, int64_t den) { return den > 0 ? static_cast<double>(num) / den : 0.0; }

}  // namespace

std::string FormatDatasetSummary(const DatasetSummary& s) {
  std::string out;
  AppendF(&out, "%s dataset summary\n", s.source.c_str());
  if (s.records_read > 0 || s.records_skipped > 0) {
    AppendF(&out, "  input records:      %" PRId64 " read, %" PRId64 " skipped (malformed)%s\n",
            s.records_read, s.records_skipped, s.input_truncated ? ", input TRUNCATED" : "");
  }
  if (s.meta_records_read > 0 || s.meta_records_skipped > 0) {
    AppendF(&out, "  meta records:       %" PRId64 " read, %" PRId64 " skipped (malformed)\n",
            s.meta_records_read, s.meta_records_skipped);
  }
  AppendF(&out, "  users:              %" PRId64 " (train %" PRId64 ", test %" PRId64 ")",
          s.users, s.train_users, s.test_users);
  if (s.users_dropped > 0) AppendF(&out, ", %" PRId64 " dropped", s.users_dropped);
  out += "\n";
  AppendF(&out, "  items:              %" PRId64, s.items);
  if (s.items_without_category > 0) {
    AppendF(&out, " (%" PRId64 " without category)", s.items_without_category);
  }
  out += "\n";
  AppendF(&out, "  categories:         %" PRId64 "\n", s.categories);
  if (s.shops > 0) AppendF(&out, "  shops:              %" PRId64 "\n", s.shops);
  AppendF(&out, "  train samples:      %" PRId64 " (positive rate %.4f)\n", s.train_samples,
          Ratio(s.train_positives, s.train_samples));
  AppendF(&out, "  test samples:       %" PRId64 " (positive rate %.4f)\n", s.test_samples,
          Ratio(s.test_positives, s.test_samples));
  AppendF(&out, "  mean history:       %.2f behaviours\n",
          Ratio(s.history_behaviours, s.train_samples + s.test_samples));
  if (s.oracle_test_auc >= 0.0) {
    AppendF(&out, "  oracle test AUC:    %.4f (true click probability)\n", s.oracle_test_auc);
  }
  AppendF(&out, "  output:             %s, %s (%.1f MiB)\n", s.train_path.c_str(),
          s.test_path.c_str(), s.bytes_written / (1024.0 * 1024.0));
  AppendF(&out, "  time:               %.2f s\n", s.seconds);
  return out;
}

void PrintDatasetSummary(const DatasetSummary& summary, std::FILE* out) {
  std::string text = FormatDatasetSummary(summary);
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace dips
