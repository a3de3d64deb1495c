// SparseTable: one shard's embedding rows, key (u64) -> row. A row is `dim`
// weights + optimiser state + occurrence count + last-update step + update
// count. This is exactly what a parameter-server shard serves; single-process
// training calls it in-process.
//
// Thread-safety: all methods may be called concurrently. The table is striped
// internally; Pull and Push on different keys never contend on one lock, and
// two pushes of the same key are applied one after the other.
//
// Rows are created on first Pull (when the pull asks) or first Push, with
// weights initialised from the key alone (InitialRowValues), so the same key
// gets the same initial row on any shard at any time. With feature admission
// (admit_after > 1) a key gets its row only on its admit_after-th sighting;
// Shrink removes rows that have not been pushed for a while. Both rules are
// in docs/tables.md.
//
// Implementations: the in-memory table (SparseTable::Create) and the tiered
// table (memory under a byte budget over RocksDB, ps/tiered_table.h);
// ps/table_factory.h picks one from options.
//
// Each row is encoded as in ps/row_layout.h; the optimiser state inside it is
// described in docs/optimizers.md.
#ifndef DIPS_PS_SPARSE_TABLE_H_
#define DIPS_PS_SPARSE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "ps/sparse_optimizer.h"

namespace dips {

struct SparseTableOptions {
  int dim = 18;                      // weights per row
  SparseOptimizerOptions optimizer;  // applied on Push
  // New rows: weights uniform in [-init_scale, init_scale], drawn from a
  // counter-based generator seeded by (init_seed, key).
  float init_scale = 0.05f;
  uint64_t init_seed = 0;
  int num_stripes = 64;  // lock stripes; a power of two in [1, 65536]

  // Feature admission. A key gets a trainable row on its admit_after-th
  // sighting; a sighting is one copy of the key in a Push, or in a Pull with
  // create_missing. Until then a pull returns the default row (all zeros,
  // count 0) and a push is counted but not applied. The sighting that admits
  // a key acts on its new row (a push is applied to it). 1 admits every key
  // on first sighting (the rows are exactly those of a table without
  // admission). In [1, 255].
  int admit_after = 1;
  // Bytes of admission counters for the whole table (8-bit counters, split
  // over the stripes), used only when admit_after > 1. More counters mean
  // fewer keys admitted early by hash collisions (ps/admission.h). >= 64 *
  // num_stripes when used.
  size_t admission_counters = size_t{16} << 20;
};

inline constexpr int kMaxSparseDim = 65536;

// InvalidArgument unless dim is in [1, kMaxSparseDim], num_stripes is a
// power of two in [1, 65536], init_scale is finite and >= 0 and the optimiser
// options are valid (ValidateSparseOptimizerOptions).
Status ValidateSparseTableOptions(const SparseTableOptions& options);

struct SparseTableStats {
  uint64_t rows = 0;          // rows stored, in memory and on disk
  uint64_t bytes = 0;         // memory held by rows (arena + index)
  uint64_t pulls = 0;         // keys pulled
  uint64_t pushes = 0;        // keys pushed
  uint64_t rows_created = 0;  // rows created by Pull/Push since the table was made

  // Tiers. A memory-only table has every row in memory and none on disk.
  uint64_t rows_in_memory = 0;
  uint64_t rows_on_disk = 0;   // rows with a copy in the disk tier
  uint64_t disk_bytes = 0;     // SST files + memtables of the disk tier
  uint64_t memory_hits = 0;    // keys of Pull/Push/ImportRows found in memory
  uint64_t memory_misses = 0;  // keys not in memory (read from disk, created or absent)
  uint64_t disk_loads = 0;     // rows read back from the disk tier
  uint64_t spills = 0;         // dirty rows written to the disk tier to free memory

  // Admission (all 0 when admit_after == 1).
  uint64_t admissions = 0;         // rows created on their admit_after-th sighting
  uint64_t unadmitted_pulls = 0;   // keys pulled before admission (default row)
  uint64_t unadmitted_pushes = 0;  // keys pushed before admission (not applied)

  // Eviction.
  uint64_t evictions = 0;    // rows removed by Shrink
  uint64_t shrink_passes = 0;
  int64_t latest_step = -1;  // largest step pushed so far; -1 before any push
};

// Which rows Shrink removes: a row goes when either rule says so.
struct ShrinkOptions {
  // The step "now"; -1 means the latest step pushed to the table.
  int64_t now_step = -1;
  // Time to live: a row whose last push was more than ttl_steps before
  // now_step (last_update_step < now_step - ttl_steps) is removed. A row
  // never pushed has last_update_step -1. Negative: no TTL rule.
  int64_t ttl_steps = -1;
  // Score threshold: a row whose occurrence count is below min_count is
  // removed. 0: no score rule.
  uint64_t min_count = 0;
};

struct ShrinkResult {
  uint64_t rows_scanned = 0;  // rows looked at, in memory and on disk
  uint64_t rows_removed = 0;
};

// A row as stored, for checkpoints and tests.
struct RowView {
  uint64_t key;
  const float* weights;  // dim
  const float* state;    // StateFloatsPerWeight * dim
  uint64_t count;        // occurrences so far
  int64_t last_update_step;
  int64_t update_count;
};

class SparseTable {
 public:
  // InvalidArgument for options that fail ValidateSparseTableOptions.
  static StatusOr<std::unique_ptr<SparseTable>> Create(const SparseTableOptions& options);
  virtual ~SparseTable() = default;

  virtual int dim() const = 0;

  // For each of the n keys writes its dim weights to values[i*dim ...] and,
  // if counts is not null, its occurrence count to counts[i]. Missing rows
  // are created when `create_missing` (and the key is admitted); otherwise
  // their initial values are returned without storing anything (evaluation)
  // — or, when admission is on (admit_after > 1), the default row.
  // Errors: InvalidArgument for null arrays with n > 0; ResourceExhausted when
  // a row cannot be created; IOError when the disk tier fails. After an
  // error the outputs are unspecified.
  virtual Status Pull(const uint64_t* keys, size_t n, bool create_missing,
                      float* values, uint64_t* counts) = 0;

  // Applies the optimiser to each key's row with grads[i*dim ...] (already
  // summed over the batch), adds occurrences[i] to its count (may be null:
  // adds nothing) and stamps last_update_step = step. Missing rows are created
  // first (as InitialRowValues; a key not yet admitted is only counted), and
  // update_count is the number of pushes the row has had. A key repeated in
  // one call is updated once per copy. The largest step pushed is kept
  // (Stats().latest_step; Shrink's default "now").
  // Errors: InvalidArgument for null keys/grads with n > 0 or any non-finite
  // gradient (then nothing is applied); ResourceExhausted when a row cannot
  // be created, IOError when the disk tier fails (rows of earlier keys may
  // already be updated; no row is ever updated twice by one copy).
  virtual Status Push(const uint64_t* keys, size_t n, const float* grads,
                      const uint32_t* occurrences, int64_t step) = 0;

  // Stores each row exactly as given (weights, optimiser state, count and
  // step fields), replacing the row of a key that is present: how a
  // checkpoint is restored and how rows move between shards. A key repeated
  // in one call ends with its last copy. Admission does not apply.
  // Errors: InvalidArgument for null rows with n > 0, a null weights/state
  // pointer or a non-finite value (then nothing is stored); ResourceExhausted
  // when a row cannot be created, IOError when the disk tier fails (earlier
  // rows may already be stored).
  virtual Status ImportRows(const RowView* rows, size_t n) = 0;

  virtual SparseTableStats Stats() const = 0;

  // Calls fn on every row exactly once, wherever it is stored (under the
  // row's stripe lock; fn must not call back into the table). Order
  // unspecified. The RowView's pointers are valid only during the call to
  // fn: copy what must outlive it. A row the disk tier cannot read back is
  // logged as an error and skipped.
  virtual void ForEachRow(const std::function<void(const RowView&)>& fn) const = 0;

  // Removes every row that `options` selects, from memory and from disk, one
  // stripe at a time (concurrent calls proceed on the other stripes), and
  // halves the admission counters so that old sightings fade. A removed key
  // that comes back is a new key (admission applies again, its row starts
  // from InitialRowValues).
  // Errors: IOError when the disk tier fails (rows of earlier stripes may
  // already be removed; nothing is lost from the stripe that failed).
  virtual StatusOr<ShrinkResult> Shrink(const ShrinkOptions& options) = 0;

  // Tables with a disk tier checkpoint it with RocksDB's own facility
  // (ps/checkpoint/shard_checkpoint.h decides which way a table is saved).
  virtual bool has_disk_tier() const { return false; }
  // Writes every row in memory that is newer than its disk copy to the disk
  // tier, then a RocksDB checkpoint of the tier into `dir` (which must not
  // exist; see RocksTier::CreateCheckpoint). Returns the table's row count,
  // all of which the checkpoint holds. The caller quiesces pushes.
  // FailedPrecondition for tables without a disk tier.
  virtual StatusOr<uint64_t> CheckpointDiskTier(const std::string& /*dir*/) {
    return FailedPreconditionError("this table has no disk tier");
  }
  // The column family holding the table's rows in its disk tier.
  virtual std::string disk_column_family() const { return ""; }
};

// The deterministic initial weights of `key` under `options`.
void InitialRowValues(const SparseTableOptions& options, uint64_t key, float* weights);

}  // namespace dips

#endif  // DIPS_PS_SPARSE_TABLE_H_
