// MemorySparseTable: the in-memory SparseTable (what SparseTable::Create
// returns). Keys are spread over options.num_stripes stripes by the top bits
// of Mix64(key); each stripe is a mutex plus a RowStore. Pull and Push group
// their keys by stripe first, so a call takes each stripe's lock once, and
// keys of one stripe are handled in the order they appear in the call (two
// copies of a key in one push are applied one after the other).
#ifndef DIPS_PS_MEMORY_TABLE_H_
#define DIPS_PS_MEMORY_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "ps/row_layout.h"
#include "ps/row_store.h"
#include "ps/sparse_table.h"

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

 private:
  struct Stripe {
    explicit Stripe(size_t row_bytes) : store(row_bytes) {}
    mutable std::mutex mu;
    RowStore store;  // GUARDED_BY(mu)
  };

  // The keys of one call in stripe order: stripe s owns
  // order[begin[s] .. begin[s+1]), indices into the call's arrays, ascending.
  struct Grouping {
    std::vector<uint64_t> hashes;  // Mix64(keys[i])
    std::vector<uint32_t> order;
    std::vector<uint32_t> begin;  // num_stripes + 1 entries
  };
  void GroupByStripe(const uint64_t* keys, size_t n, Grouping* g) const;
  size_t StripeOf(uint64_t hash) const { return (hash >> 48) & stripe_mask_; }

  // Creates and initialises the row of `key` in a store whose stripe lock is
  // held; nullptr when the store is full.
  uint8_t* CreateRow(RowStore* store, uint64_t key, uint64_t hash);

  const SparseTableOptions options_;
  const RowLayout layout_;
  const uint64_t stripe_mask_;
  std::vector<std::unique_ptr<Stripe>> stripes_;
  // Counters only; relaxed order is enough since nothing is published
  // through them.
  std::atomic<uint64_t> pulls_{0};
  std::atomic<uint64_t> pushes_{0};
  std::atomic<uint64_t> rows_created_{0};
};

}  // namespace dips

#endif  // DIPS_PS_MEMORY_TABLE_H_
