// TieredSparseTable: a SparseTable whose hot rows live in memory under a
// byte budget and whose other rows live in a RocksDB column family
// (ps/rocksdb_tier.h). Rows, optimiser updates, admission and shrink rules
// are exactly the memory table's (same code: ps/table_common.h), so the two
// hold bit-identical rows after the same calls.
//
// Layout. Keys are spread over num_stripes stripes by the top bits of
// Mix64(key); the disk tier orders rows by the same hash, so a stripe's disk
// rows form one key range. Each stripe has a mutex, a RowStore holding at
// most `capacity` rows (the budget split evenly: arena + index + one flag
// byte per row), one flag byte per row slot and its admission counters.
//
// A key's row is in exactly one of three states: only in memory (new, not
// yet spilled), in memory with a copy on disk (clean if the copies are equal,
// dirty if memory is newer), or only on disk. The memory copy, when there is
// one, is always the newest.
//
// Concurrency: why no row is lost or updated twice. Every transition of a
// key's state — load from disk, create, update, spill, drop, shrink — runs
// under its stripe's lock, and the lock is held across the RocksDB reads and
// writes of that stripe (MultiGet of a batch's misses, WriteBatch of the
// evicted dirty rows). So while a key is being loaded no other call can
// create, load or update it, and a spilled row is on disk before it leaves
// memory. A pull or push of a key therefore sees either the memory copy or,
// when there is none, the disk copy, never both and never a stale one; each
// copy of a key in a push is applied once to the one current row. The price
// is that a stripe waits while its misses are read; the other stripes keep
// serving (hence more stripes than the memory table: 256 by default).
//
// Memory. A call handles a stripe's keys in chunks of at most capacity/2:
// it pins the chunk's resident rows, reads the misses with one MultiGet,
// evicts unpinned rows by CLOCK (a referenced bit per row, cleared by the
// sweeping hand; a row touched since the last sweep survives it) until the
// chunk's new rows fit, writes the evicted dirty rows in one WriteBatch,
// and only then removes them from memory (a failed write loses nothing).
//
// Thread-safety: all methods may be called concurrently.
#ifndef DIPS_PS_TIERED_TABLE_H_
#define DIPS_PS_TIERED_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ps/admission.h"
#include "ps/rocksdb_tier.h"
#include "ps/row_layout.h"
#include "ps/row_store.h"
#include "ps/sparse_table.h"
#include "ps/table_common.h"

namespace dips {

struct TieredTableOptions {
  // num_stripes defaults to 256 here (see the concurrency note above).
  SparseTableOptions table = [] {
    SparseTableOptions t;
    t.num_stripes = 256;
    return t;
  }();
  // Memory for rows: arenas + index + one flag byte per row, split evenly
  // over the stripes. Must leave every stripe room for at least 2 rows. The
  // RocksDB block cache and memtables are extra (RocksTierOptions).
  uint64_t memory_budget_bytes = uint64_t{2} << 30;
  // The table's column family in the shard's RocksDB instance.
  std::string column_family = "embeddings";
};

// InvalidArgument for bad table options or a budget below 2 rows a stripe.
Status ValidateTieredTableOptions(const TieredTableOptions& options);

class TieredSparseTable final : public SparseTable {
 public:
  // Opens the table on `tier` (shared: one tier per shard, a column family
  // per table). Rows the column family already holds are the table's rows
  // (counted at open, one scan). Errors: InvalidArgument for bad options,
  // IOError/Corruption from the tier.
  static StatusOr<std::unique_ptr<TieredSparseTable>> Open(const TieredTableOptions& options,
                                                           std::shared_ptr<RocksTier> tier);
  // Writes every dirty row to the tier (logged, and the tier told, if that
  // fails).
  ~TieredSparseTable() override;

  int dim() const override { return options_.table.dim; }
  Status Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
              uint64_t* counts) override;
  Status Push(const uint64_t* keys, size_t n, const float* grads,
              const uint32_t* occurrences, int64_t step) override;
  Status ImportRows(const RowView* rows, size_t n) override;
  SparseTableStats Stats() const override;
  void ForEachRow(const std::function<void(const RowView&)>& fn) const override;
  StatusOr<ShrinkResult> Shrink(const ShrinkOptions& options) override;

  bool has_disk_tier() const override { return true; }
  StatusOr<uint64_t> CheckpointDiskTier(const std::string& dir) override;
  std::string disk_column_family() const override { return options_.column_family; }

  // Writes every dirty row to the tier and flushes the tier's memtables:
  // afterwards the disk holds every row (rows stay cached in memory).
  Status FlushToDisk();

  // Rows one stripe may hold in memory under the budget.
  size_t stripe_capacity() const { return capacity_; }

 private:
  enum Flag : uint8_t {
    kReferenced = 1,  // touched since the CLOCK hand last passed
    kDirty = 2,       // memory is newer than disk (or there is no disk copy)
    kOnDisk = 4,      // the disk tier has a copy (maybe older)
    kPinned = 8,      // in use by the current chunk, or chosen for eviction
  };
  struct Stripe {
    Stripe(size_t row_bytes, size_t rows_per_chunk, size_t sketch_counters)
        : store(row_bytes, rows_per_chunk), sketch(sketch_counters) {}
    mutable std::mutex mu;
    // All GUARDED_BY(mu):
    RowStore store;
    std::vector<uint8_t> flags;  // per slot, Flag bits
    AdmissionSketch sketch;
    size_t hand = 0;             // CLOCK hand: an index position of store
    uint64_t disk_rows = 0;      // rows of this stripe on disk
    uint64_t memory_only = 0;    // rows in memory without a disk copy
  };
  struct Call;  // one Pull/Push/ImportRows, see tiered_table.cc

  TieredSparseTable(const TieredTableOptions& options, std::shared_ptr<RocksTier> tier,
                    RocksTier::Column* column, size_t capacity, size_t rows_per_chunk);

  size_t StripeOf(uint64_t hash) const { return shift_ == 64 ? 0 : hash >> shift_; }
  uint64_t FirstHash(size_t s) const { return shift_ == 64 ? 0 : uint64_t{s} << shift_; }
  uint64_t LastHash(size_t s) const {
    return shift_ == 64 ? ~uint64_t{0} : FirstHash(s) | ((uint64_t{1} << shift_) - 1);
  }

  // Runs `call` over its keys, stripe by stripe.
  Status Run(Call* call);
  // One stripe's share of a call (lock held), in chunks.
  Status RunChunk(Stripe* stripe, Call* call, const uint32_t* idx, size_t m);
  // Makes room for `rows` new rows, evicting by CLOCK among the rows not
  // pinned (`pinned` rows are); spilled rows are written before they go.
  Status MakeRoom(Stripe* stripe, size_t rows, size_t pinned);
  // Slot for a new row of key (zero-filled), flags set; room must exist.
  uint32_t AddRow(Stripe* stripe, uint64_t key, uint64_t hash, uint8_t flags);
  // Writes the stripe's dirty rows to the tier (they become clean).
  Status WriteBackDirty(Stripe* stripe);
  // WriteBackDirty over every stripe; returns the rows now on disk (all).
  StatusOr<uint64_t> WriteBackAll();

  const TieredTableOptions options_;
  const RowLayout layout_;
  const SparseUpdater updater_;
  const std::shared_ptr<RocksTier> tier_;
  RocksTier::Column* const column_;
  const size_t capacity_;  // rows per stripe
  const int shift_;        // 64 - log2(num_stripes)
  std::vector<std::unique_ptr<Stripe>> stripes_;
  table_internal::TableCounters counters_;
  std::atomic<uint64_t> disk_loads_{0};
  std::atomic<uint64_t> spills_{0};
};

}  // namespace dips

#endif  // DIPS_PS_TIERED_TABLE_H_
