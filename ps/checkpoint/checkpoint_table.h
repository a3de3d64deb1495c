// A checkpoint's rows in an in-memory SparseTable, for tools that read a
// checkpoint outside a training job (`dips export`, `dips checkpoint-diff`),
// and row files of any directory loaded the same way.
//
// Memory: every row of the chain is held in memory at once.
#ifndef DIPS_PS_CHECKPOINT_CHECKPOINT_TABLE_H_
#define DIPS_PS_CHECKPOINT_CHECKPOINT_TABLE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "ps/checkpoint/checkpoint.h"
#include "ps/sparse_table.h"

namespace dips {

// The options of a table that holds the chain's rows as the job did: dim,
// optimiser and initial-row parameters from the newest manifest (every
// checkpoint of a chain has the same). Corruption naming the manifest when
// its optimiser is unknown.
StatusOr<SparseTableOptions> CheckpointTableOptions(const CheckpointChain& chain);

// A new in-memory table (CheckpointTableOptions) with every row of the
// chain restored (RestoreRows: each file checked against its manifest).
StatusOr<std::unique_ptr<SparseTable>> LoadCheckpointTable(const CheckpointChain& chain);

struct RowDirInfo {
  uint64_t files = 0;
  uint64_t rows = 0;  // records imported, over all files
};

// Imports every row of every "*.rows" file directly in `dir` (name order;
// a key in two files ends with the later file's row) into `table`. The
// files have no manifest, so only their own framing (footer count) is
// checked. NotFound when dir holds no row file.
StatusOr<RowDirInfo> LoadRowFiles(const std::string& dir, SparseOptimizerKind optimizer,
                                  SparseTable* table);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_CHECKPOINT_TABLE_H_
