// Building blocks shared by the MovieLens and Amazon converters: interned ids,
// the DIEN-format line writer (docs/log_format.md §1), the options check and
// the pair of train/test output files.
#ifndef DIPS_TOOLS_DIEN_LINES_H_
#define DIPS_TOOLS_DIEN_LINES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "tools/dataset_summary.h"
#include "tools/line_writer.h"

namespace dips {

// Maps id strings to dense indices 0, 1, ... in order of first appearance.
// Converters keep millions of behaviours as index pairs instead of strings.
class IdTable {
 public:
  uint32_t Intern(std::string_view id);
  // Index of `id`, or -1 when it was never interned.
  int64_t Find(std::string_view id) const;
  const std::string& name(uint32_t index) const { return names_[index]; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> names_;
};

// One behaviour (or target): indices into the item and category IdTables.
struct Behaviour {
  uint32_t item = 0;
  uint32_t category = 0;
};

// Appends `label \t user \t item \t category \t item_history \t
// category_history \n` with the history joined by 0x02, oldest first.
void AppendDienLine(int label, std::string_view user, const Behaviour& target,
                    const Behaviour* history, size_t history_size, const IdTable& items,
                    const IdTable& categories, std::string* out);

// Checks the options every DIEN converter shares (train_path, test_path,
// max_history, test_fraction, default_category); messages start with
// "<tool>: ". The converter checks its own input paths first.
template <typename ConverterOptions>
Status ValidateDienOutputOptions(const std::string& tool, const ConverterOptions& o) {
  if (o.train_path.empty() || o.test_path.empty()) {
    return InvalidArgumentError(tool + ": train_path and test_path are required");
  }
  if (o.max_history < 1) return InvalidArgumentError(tool + ": max_history must be >= 1");
  if (o.test_fraction < 0.0 || o.test_fraction > 1.0) {
    return InvalidArgumentError(tool + ": test_fraction must be in [0, 1]");
  }
  if (o.default_category.empty()) {
    return InvalidArgumentError(tool + ": default_category must not be empty");
  }
  return Status::OK();
}

// A converter's train and test files, and which items and categories went
// into them (for the distinct counts of DatasetSummary). Not thread-safe.
class DienSplitFiles {
 public:
  // `items` and `categories` are the sizes of the converter's IdTables.
  static StatusOr<std::unique_ptr<DienSplitFiles>> Open(const std::string& train_path,
                                                        const std::string& test_path,
                                                        const LineWriterOptions& writer,
                                                        size_t items, size_t categories);

  LineWriter* file(bool is_test) { return is_test ? test_.get() : train_.get(); }
  // Records that `b` (a target, history entry or negative) was written.
  void MarkUsed(const Behaviour& b) { item_used_[b.item] = category_used_[b.category] = true; }
  // Closes both files and sets summary's users (train_users + test_users),
  // items, categories and bytes_written.
  Status Close(DatasetSummary* summary);

 private:
  DienSplitFiles(std::unique_ptr<LineWriter> train, std::unique_ptr<LineWriter> test,
                 size_t items, size_t categories)
      : train_(std::move(train)),
        test_(std::move(test)),
        item_used_(items, false),
        category_used_(categories, false) {}

  std::unique_ptr<LineWriter> train_, test_;
  std::vector<bool> item_used_, category_used_;
};

}  // namespace dips

#endif  // DIPS_TOOLS_DIEN_LINES_H_
