// Pieces both SparseTable implementations share, so that the memory table
// and the tiered table check calls, build rows, apply pushes and pick rows
// to shrink with the very same code (the tiered table's rows must equal the
// memory table's bit for bit). Internal to ps/.
#ifndef DIPS_PS_TABLE_COMMON_H_
#define DIPS_PS_TABLE_COMMON_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/feature_key.h"
#include "common/status.h"
#include "ps/row_layout.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {
namespace table_internal {

// InvalidArgument for null arrays with n > 0 or more keys than a call may
// carry (calls index keys with uint32).
Status CheckCall(const char* what, const uint64_t* keys, size_t n, const void* data);
// InvalidArgument naming the key of the first non-finite gradient.
Status CheckGradients(const uint64_t* keys, size_t n, size_t dim, const float* grads);
// InvalidArgument for null pointers or non-finite values in any row.
Status CheckImportRows(const RowView* rows, size_t n, const RowLayout& layout);
Status StoreFull(uint64_t key);

// Fills a zeroed row as a new row of `key`: InitialRowValues, optimiser
// state, last_update_step = -1.
void InitRow(const SparseTableOptions& options, const RowLayout& layout, uint64_t key,
             uint8_t* row);
// One push of `grad` to `row`; `updater` is built from options.optimizer.
void ApplyPush(const SparseUpdater& updater, const SparseTableOptions& options,
               const RowLayout& layout, const float* grad, uint32_t occurrences, int64_t step,
               uint8_t* row);
// Overwrites `row` with the imported view.
void CopyImport(const RowLayout& layout, const RowView& view, uint8_t* row);
RowView ViewOf(const RowLayout& layout, uint64_t key, const uint8_t* row);

// The keys of one call in stripe order: stripe s owns
// order[begin[s] .. begin[s+1]), indices into the call's arrays, ascending.
struct Grouping {
  std::vector<uint64_t> hashes;  // Mix64(keys[i])
  std::vector<uint32_t> order;
  std::vector<uint32_t> begin;  // num_stripes + 1 entries
};
// stripe_of(hash) must be < num_stripes.
template <typename StripeOf>
void GroupByStripe(const uint64_t* keys, size_t n, size_t num_stripes, StripeOf stripe_of,
                   Grouping* g);

// Whether a row goes in a shrink pass.
class ShrinkRule {
 public:
  ShrinkRule(const ShrinkOptions& options, int64_t latest_step);
  bool Removes(const RowHeader& header) const {
    return (ttl_ && header.last_update_step < oldest_kept_step_) ||
           header.count < min_count_;
  }

 private:
  bool ttl_;
  int64_t oldest_kept_step_;
  uint64_t min_count_;
};

// Counters both tables keep. Relaxed order is enough: nothing is published
// through them.
struct TableCounters {
  std::atomic<uint64_t> pulls{0};
  std::atomic<uint64_t> pushes{0};
  std::atomic<uint64_t> rows_created{0};
  std::atomic<uint64_t> memory_hits{0};
  std::atomic<uint64_t> memory_misses{0};
  std::atomic<uint64_t> admissions{0};
  std::atomic<uint64_t> unadmitted_pulls{0};
  std::atomic<uint64_t> unadmitted_pushes{0};
  std::atomic<uint64_t> evictions{0};
  std::atomic<uint64_t> shrink_passes{0};
  std::atomic<int64_t> latest_step{-1};

  void NoteStep(int64_t step);
  // Copies the counters into `stats` (row and byte totals are the caller's).
  void Fill(SparseTableStats* stats) const;
};

// Per-call tallies, added to TableCounters once per call.
struct CallTally {
  uint64_t hits = 0, misses = 0, created = 0, admissions = 0;
  uint64_t unadmitted_pulls = 0, unadmitted_pushes = 0;
  void AddTo(TableCounters* counters) const;
};

template <typename StripeOf>
void GroupByStripe(const uint64_t* keys, size_t n, size_t num_stripes, StripeOf stripe_of,
                   Grouping* g) {
  g->hashes.resize(n);
  g->order.resize(n);
  g->begin.assign(num_stripes + 1, 0);
  // Counting sort by stripe; stable, so a stripe's keys keep call order.
  std::vector<uint32_t> stripe(n);
  for (size_t i = 0; i < n; ++i) {
    g->hashes[i] = Mix64(keys[i]);
    stripe[i] = static_cast<uint32_t>(stripe_of(g->hashes[i]));
    ++g->begin[stripe[i] + 1];
  }
  for (size_t s = 0; s < num_stripes; ++s) g->begin[s + 1] += g->begin[s];
  std::vector<uint32_t> next(g->begin.begin(), g->begin.end() - 1);
  for (size_t i = 0; i < n; ++i) g->order[next[stripe[i]]++] = static_cast<uint32_t>(i);
}

}  // namespace table_internal
}  // namespace dips

#endif  // DIPS_PS_TABLE_COMMON_H_
