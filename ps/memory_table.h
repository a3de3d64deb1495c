// MemorySparseTable: the in-memory SparseTable (what SparseTable::Create
// returns). Keys are spread over options.num_stripes stripes by bits of
// Mix64(key); each stripe is a mutex plus a RowStore (and, with admission,
// an AdmissionSketch). Pull and Push group their keys by stripe first, so a
// call takes each stripe's lock once, and keys of one stripe are handled in
// the order they appear in the call (two copies of a key in one push are
// applied one after the other).
#ifndef DIPS_PS_MEMORY_TABLE_H_
#define DIPS_PS_MEMORY_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "ps/admission.h"
#include "ps/row_layout.h"
#include "ps/row_store.h"
#include "ps/sparse_table.h"
#include "ps/table_common.h"

namespace dips {

class MemorySparseTable final : public SparseTable {
 public:
  // `options` must have passed ValidateSparseTableOptions.
  explicit MemorySparseTable(const SparseTableOptions& options);

  int dim() const override { return options_.dim; }
  Status Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
              uint64_t* counts) override;
  Status Push(const uint64_t* keys, size_t n, const float* grads,
              const uint32_t* occurrences, int64_t step) override;
  Status ImportRows(const RowView* rows, size_t n) override;
  SparseTableStats Stats() const override;
  void ForEachRow(const std::function<void(const RowView&)>& fn) const override;
  StatusOr<ShrinkResult> Shrink(const ShrinkOptions& options) override;

 private:
  struct Stripe {
    Stripe(size_t row_bytes, size_t sketch_counters)
        : store(row_bytes), sketch(sketch_counters) {}
    mutable std::mutex mu;
    RowStore store;          // GUARDED_BY(mu)
    AdmissionSketch sketch;  // GUARDED_BY(mu); empty when admit_after == 1
  };

  size_t StripeOf(uint64_t hash) const { return (hash >> 48) & stripe_mask_; }
  // Whether a sighting of an absent key (hash) admits it; counts the
  // sighting. Stripe lock held.
  bool Admit(Stripe* stripe, uint64_t hash) const;
  // Creates and initialises the row of `key` in a store whose stripe lock is
  // held; nullptr when the store is full.
  uint8_t* CreateRow(RowStore* store, uint64_t key, uint64_t hash);

  const SparseTableOptions options_;
  const RowLayout layout_;
  const SparseUpdater updater_;
  const uint64_t stripe_mask_;
  std::vector<std::unique_ptr<Stripe>> stripes_;
  table_internal::TableCounters counters_;
};

}  // namespace dips

#endif  // DIPS_PS_MEMORY_TABLE_H_
