// Row-by-row comparison of two sparse tables, for checking that a restore
// reproduced a checkpoint exactly (`dips checkpoint-diff`, the crash tests
// in tests/cluster/crash_resume_test.sh, docs/checkpoints.md).
#ifndef DIPS_PS_CHECKPOINT_TABLE_DIFF_H_
#define DIPS_PS_CHECKPOINT_TABLE_DIFF_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {

// A row of the expected table that the other table lacks or holds
// differently.
struct RowMismatch {
  uint64_t key = 0;
  // "missing", or the first field that differs with both values, e.g.
  // "state[4]: 0.0123 vs 0.0125".
  std::string what;
};

struct TableDiff {
  uint64_t expected_rows = 0;  // rows of the expected table
  uint64_t identical = 0;      // ... present in the other with every field equal
  uint64_t missing = 0;        // ... whose key the other table has no row for
  uint64_t different = 0;      // ... present with some field not equal
  uint64_t actual_rows = 0;    // rows of the other table, extra ones included
  // The mismatches with the smallest keys (at most max_examples of them),
  // ascending: the same ones whatever order the tables are iterated in.
  std::vector<RowMismatch> examples;

  bool same() const { return missing == 0 && different == 0; }
};

// Looks up every row of `expected` in `actual` and compares key, count,
// last_update_step, update_count, weights and optimiser state bitwise (so
// -0 and 0 differ, and a NaN equals only the same NaN). Rows only `actual`
// has are counted, not compared. `optimizer` gives both tables' state size.
// Holds a copy of `actual`'s rows in memory while it runs.
// InvalidArgument when the tables' dims differ.
StatusOr<TableDiff> DiffTables(const SparseTable& expected, const SparseTable& actual,
                               SparseOptimizerKind optimizer, size_t max_examples);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_TABLE_DIFF_H_
