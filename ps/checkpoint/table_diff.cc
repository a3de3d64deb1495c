#include "ps/checkpoint/table_diff.h"

#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <unordered_map>

namespace dips {
namespace {

// A row's fields as one byte string, in row-file record order: count,
// last_update_step, update_count, weights, state. Two rows are identical
// iff their encodings are equal byte for byte.
class RowEncoding {
 public:
  RowEncoding(size_t dim, size_t state_floats) : dim_(dim), state_floats_(state_floats) {}

  size_t bytes() const { return kHeaderBytes + 4 * (dim_ + state_floats_); }

  void Encode(const RowView& row, char* out) const {
    std::memcpy(out, &row.count, 8);
    std::memcpy(out + 8, &row.last_update_step, 8);
    std::memcpy(out + 16, &row.update_count, 8);
    std::memcpy(out + kHeaderBytes, row.weights, 4 * dim_);
    if (state_floats_ > 0) std::memcpy(out + kHeaderBytes + 4 * dim_, row.state, 4 * state_floats_);
  }

  // The first field in which two different encodings differ, with both values.
  std::string Describe(const char* want, const char* got) const {
    if (std::memcmp(want, got, 8) != 0) {
      uint64_t a, b;  // the count is unsigned, the two steps signed
      std::memcpy(&a, want, 8);
      std::memcpy(&b, got, 8);
      return "count: " + std::to_string(a) + " vs " + std::to_string(b);
    }
    static const char* const kSteps[] = {"last_update_step", "update_count"};
    for (int i = 0; i < 2; ++i) {
      const size_t offset = 8 + 8 * i;
      if (std::memcmp(want + offset, got + offset, 8) != 0) {
        int64_t a, b;
        std::memcpy(&a, want + offset, 8);
        std::memcpy(&b, got + offset, 8);
        return std::string(kSteps[i]) + ": " + std::to_string(a) + " vs " + std::to_string(b);
      }
    }
    for (size_t f = 0; f < dim_ + state_floats_; ++f) {
      const size_t offset = kHeaderBytes + 4 * f;
      if (std::memcmp(want + offset, got + offset, 4) == 0) continue;
      float a, b;
      std::memcpy(&a, want + offset, 4);
      std::memcpy(&b, got + offset, 4);
      const bool weight = f < dim_;
      char text[96];
      // %.9g tells any two floats apart except 0 and -0 or two NaNs.
      std::snprintf(text, sizeof(text), "%s[%zu]: %.9g vs %.9g", weight ? "weights" : "state",
                    weight ? f : f - dim_, a, b);
      return text;
    }
    return "identical";
  }

 private:
  static constexpr size_t kHeaderBytes = 24;
  const size_t dim_;
  const size_t state_floats_;
};

}  // namespace

StatusOr<TableDiff> DiffTables(const SparseTable& expected, const SparseTable& actual,
                               SparseOptimizerKind optimizer, size_t max_examples) {
  if (expected.dim() != actual.dim()) {
    return InvalidArgumentError("cannot compare tables of dim " + std::to_string(expected.dim()) +
                                " and " + std::to_string(actual.dim()));
  }
  const size_t dim = static_cast<size_t>(expected.dim());
  const RowEncoding encoding(dim, dim * StateFloatsPerWeight(optimizer));
  const size_t bytes = encoding.bytes();

  // ForEachRow's callback must not call back into its table, so `actual` is
  // copied out first and looked up while `expected` is iterated.
  std::unordered_map<uint64_t, size_t> offsets;
  std::vector<char> records;
  actual.ForEachRow([&](const RowView& row) {
    offsets[row.key] = records.size();
    records.resize(records.size() + bytes);
    encoding.Encode(row, records.data() + records.size() - bytes);
  });

  TableDiff diff;
  diff.actual_rows = offsets.size();
  std::map<uint64_t, std::string> examples;  // the smallest keys seen so far
  auto note = [&](uint64_t key, std::string what) {
    if (max_examples == 0) return;
    if (examples.size() == max_examples && key > std::prev(examples.end())->first) return;
    examples.emplace(key, std::move(what));
    if (examples.size() > max_examples) examples.erase(std::prev(examples.end()));
  };
  std::vector<char> mine(bytes);
  expected.ForEachRow([&](const RowView& row) {
    ++diff.expected_rows;
    const auto found = offsets.find(row.key);
    if (found == offsets.end()) {
      ++diff.missing;
      note(row.key, "missing");
      return;
    }
    encoding.Encode(row, mine.data());
    const char* theirs = records.data() + found->second;
    if (std::memcmp(mine.data(), theirs, bytes) == 0) {
      ++diff.identical;
      return;
    }
    ++diff.different;
    note(row.key, encoding.Describe(mine.data(), theirs));
  });
  for (auto& [key, what] : examples) diff.examples.push_back(RowMismatch{key, std::move(what)});
  return diff;
}

}  // namespace dips
