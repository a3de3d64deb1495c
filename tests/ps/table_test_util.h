// Helpers shared by the table tests: a scratch directory and row snapshots.
#ifndef DIPS_TESTS_PS_TABLE_TEST_UTIL_H_
#define DIPS_TESTS_PS_TABLE_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <glog/logging.h>

#include "ps/sparse_table.h"

namespace dips {
namespace testing_util {

// A fresh directory under /tmp, removed with everything in it at the end.
class ScratchDir {
 public:
  ScratchDir() {
    char path[] = "/tmp/dips_table_test_XXXXXX";
    CHECK(mkdtemp(path) != nullptr);
    path_ = path;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A copy of a row: RowView's pointers only live during ForEachRow's callback.
struct StoredRow {
  std::vector<float> weights;
  std::vector<float> state;
  uint64_t count = 0;
  int64_t last_update_step = 0;
  int64_t update_count = 0;
  bool operator==(const StoredRow& o) const {
    // Bit for bit: compare the bytes, not float values (NaN, -0).
    return weights.size() == o.weights.size() && state.size() == o.state.size() &&
           std::memcmp(weights.data(), o.weights.data(), weights.size() * 4) == 0 &&
           std::memcmp(state.data(), o.state.data(), state.size() * 4) == 0 &&
           count == o.count && last_update_step == o.last_update_step &&
           update_count == o.update_count;
  }
};

// Every row of `table`; CHECK-fails if a key is visited twice. `kind` must
// be the table's optimiser (it sets how many state floats to copy).
inline std::map<uint64_t, StoredRow> Snapshot(const SparseTable& table,
                                              SparseOptimizerKind kind) {
  const size_t dim = table.dim();
  const size_t state_floats = dim * StateFloatsPerWeight(kind);
  std::map<uint64_t, StoredRow> rows;
  table.ForEachRow([&](const RowView& row) {
    CHECK(rows.count(row.key) == 0) << "row visited twice: " << row.key;
    StoredRow& copy = rows[row.key];
    copy.weights.assign(row.weights, row.weights + dim);
    copy.state.assign(row.state, row.state + state_floats);
    copy.count = row.count;
    copy.last_update_step = row.last_update_step;
    copy.update_count = row.update_count;
  });
  return rows;
}

}  // namespace testing_util
}  // namespace dips

#endif  // DIPS_TESTS_PS_TABLE_TEST_UTIL_H_
