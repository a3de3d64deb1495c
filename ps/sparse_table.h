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
// gets the same initial row on any shard at any time.
//
// Each row is encoded as in ps/row_layout.h; the optimiser state inside it is
// described in docs/optimizers.md.
#ifndef DIPS_PS_SPARSE_TABLE_H_
#define DIPS_PS_SPARSE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

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
};

inline constexpr int kMaxSparseDim = 65536;

// InvalidArgument unless dim is in [1, kMaxSparseDim], num_stripes is a
// power of two in [1, 65536], init_scale is finite and >= 0 and the optimiser
// options are valid (ValidateSparseOptimizerOptions).
Status ValidateSparseTableOptions(const SparseTableOptions& options);

struct SparseTableStats {
  uint64_t rows = 0;
  uint64_t bytes = 0;       // approximate memory held by rows
  uint64_t pulls = 0;       // keys pulled
  uint64_t pushes = 0;      // keys pushed
  uint64_t rows_created = 0;  // rows created since the table was made
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
  // are created when `create_missing`; otherwise their initial values are
  // returned without storing anything (evaluation).
  // Errors: InvalidArgument for null arrays with n > 0; ResourceExhausted when
  // a row cannot be created. After an error the outputs are unspecified.
  virtual Status Pull(const uint64_t* keys, size_t n, bool create_missing,
                      float* values, uint64_t* counts) = 0;

  // Applies the optimiser to each key's row with grads[i*dim ...] (already
  // summed over the batch), adds occurrences[i] to its count (may be null:
  // adds nothing) and stamps last_update_step = step. Missing rows are created
  // first (as InitialRowValues), and update_count is the number of pushes the
  // row has had. A key repeated in one call is updated once per copy.
  // Errors: InvalidArgument for null keys/grads with n > 0 or any non-finite
  // gradient (then nothing is applied); ResourceExhausted when a row cannot
  // be created (rows of earlier keys may already be updated).
  virtual Status Push(const uint64_t* keys, size_t n, const float* grads,
                      const uint32_t* occurrences, int64_t step) = 0;

  // Stores each row exactly as given (weights, optimiser state, count and
  // step fields), replacing the row of a key that is present: how a
  // checkpoint is restored and how rows move between shards. A key repeated
  // in one call ends with its last copy.
  // Errors: InvalidArgument for null rows with n > 0, a null weights/state
  // pointer or a non-finite value (then nothing is stored); ResourceExhausted
  // when a row cannot be created (earlier rows may already be stored).
  virtual Status ImportRows(const RowView* rows, size_t n) = 0;

  virtual SparseTableStats Stats() const = 0;

  // Calls fn on every row (under the row's stripe lock; fn must not call back
  // into the table). Order unspecified. The RowView's pointers are valid only
  // during the call to fn: copy what must outlive it.
  virtual void ForEachRow(const std::function<void(const RowView&)>& fn) const = 0;
};

// The deterministic initial weights of `key` under `options`.
void InitialRowValues(const SparseTableOptions& options, uint64_t key, float* weights);

}  // namespace dips

#endif  // DIPS_PS_SPARSE_TABLE_H_
