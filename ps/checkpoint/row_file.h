// Row files: one shard's sparse-table rows in a checkpoint, streamed so a
// shard of any size is written and read in constant memory.
//
//   header (48 bytes, little-endian)
//     0   char[8]  magic "DIPSROWS"
//     8   u32      format version (1)
//     12  u32      dim
//     16  u32      state floats per row (StateFloatsPerWeight * dim)
//     20  u32      optimiser kind (SparseOptimizerKind as an integer)
//     24  i64      since_step: rows updated after it (-1: every pushed row;
//                   kAllRows: every row, never-pushed ones too)
//     32  u32      shard index
//     36  u32      shard count
//     40  u64      reserved (0)
//   records, one per row
//     u64 key, u64 count, i64 last_update_step, i64 update_count,
//     f32 weights[dim], f32 state[state floats]
//   footer (16 bytes)
//     char[8] "DIPSEND1", u64 number of records
//
// Rows that were never pushed are not written: they are exactly the row a
// table creates for the key (InitialRowValues), so restoring nothing for
// them restores them. (A diagnostic dump asks for them too with kAllRows.)
// The whole file's CRC-32 is kept in the checkpoint
// manifest; the footer's count catches truncation even without it.
#ifndef DIPS_PS_CHECKPOINT_ROW_FILE_H_
#define DIPS_PS_CHECKPOINT_ROW_FILE_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "common/status.h"
#include "ps/checkpoint/file_io.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {

// RowFileOptions::since_step that writes every row of the table, rows never
// pushed (last_update_step -1, update_count 0) included: for diagnostics
// that must see the whole table (`dips dist-train --dump_rows_after_restore`),
// never for checkpoints, which leave those rows out.
inline constexpr int64_t kAllRows = std::numeric_limits<int64_t>::min();

struct RowFileOptions {
  SparseOptimizerKind optimizer = SparseOptimizerKind::kAdam;  // the table's
  // Write the pushed rows with last_update_step > since_step (-1: every
  // pushed row), or every row with kAllRows.
  int64_t since_step = -1;
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
};

struct RowFileInfo {
  FileDigest digest;  // of the whole file as written
  uint64_t rows = 0;
};

// Writes the table's rows (per the options) to path + ".tmp", fsyncs and
// renames it to `path`. The table may be used concurrently, but a
// consistent checkpoint needs its pushes quiesced by the caller.
StatusOr<RowFileInfo> WriteRowFile(const SparseTable& table, const RowFileOptions& options,
                                   const std::string& path);

// Imports the rows of the file at `path` for which keep(key) is true (all
// when keep is empty) into `table`, replacing rows present there. The file
// must match the table: same dim and optimiser (state size). `expected`
// (when not null) is checked first, over the whole file, so a corrupt file
// is rejected before any row is imported. Corruption names the file.
StatusOr<RowFileInfo> LoadRowFile(const std::string& path, const FileDigest* expected,
                                  SparseOptimizerKind optimizer,
                                  const std::function<bool(uint64_t)>& keep,
                                  SparseTable* table);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_ROW_FILE_H_
