#include "ps/tiered_table.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {
namespace {

using table_internal::CallTally;

constexpr size_t kMinStripeRows = 2;

// Rows per arena chunk: at most 1/8 of a stripe's budget, so the rounding
// up to whole chunks wastes little even under a tiny budget.
size_t RowsPerChunk(uint64_t stripe_budget, size_t row_bytes) {
  return std::clamp<uint64_t>(stripe_budget / row_bytes / 8, 1, RowStore::kRowsPerChunk);
}

// Most rows whose store (arena + index) and flag bytes fit in `budget`.
size_t CapacityFor(uint64_t budget, size_t row_bytes, size_t rows_per_chunk) {
  auto cost = [&](size_t rows) {
    return RowStoreBytesFor(rows, row_bytes, rows_per_chunk) + rows;
  };
  size_t fits = 0;
  size_t too_many = std::min<uint64_t>(budget / row_bytes + 1, RowStore::kMaxRows);
  if (cost(too_many) <= budget) return too_many;
  while (too_many - fits > 1) {
    const size_t mid = fits + (too_many - fits) / 2;
    (cost(mid) <= budget ? fits : too_many) = mid;
  }
  return fits;
}

int Log2(int power_of_two) {
  int bits = 0;
  while ((1 << bits) < power_of_two) ++bits;
  return bits;
}

}  // namespace

enum class TieredOp { kPull, kPush, kImport };

// One Pull, Push or ImportRows in flight, plus scratch reused across chunks.
struct TieredSparseTable::Call {
  TieredOp op;
  const uint64_t* keys = nullptr;
  size_t n = 0;
  bool create_missing = false;      // kPull
  float* values = nullptr;          // kPull
  uint64_t* counts = nullptr;       // kPull, may be null
  const float* grads = nullptr;     // kPush
  const uint32_t* occurrences = nullptr;  // kPush, may be null
  int64_t step = 0;                 // kPush
  const RowView* rows = nullptr;    // kImport
  table_internal::Grouping g;
  CallTally tally;
  std::vector<uint64_t> misses;     // hashes, sorted, distinct
  std::vector<uint8_t> loaded;      // rows read for `misses`
  std::unique_ptr<bool[]> found;
  std::vector<uint32_t> pinned;     // slots pinned by the current chunk

  bool creates() const { return op != TieredOp::kPull || create_missing; }
};

Status ValidateTieredTableOptions(const TieredTableOptions& options) {
  RETURN_IF_ERROR(ValidateSparseTableOptions(options.table));
  if (options.column_family.empty()) {
    return InvalidArgumentError("tiered table: column_family is required");
  }
  const RowLayout layout(options.table.dim, StateFloatsPerWeight(options.table.optimizer.kind));
  const uint64_t stripe_budget = options.memory_budget_bytes / options.table.num_stripes;
  const size_t rows =
      CapacityFor(stripe_budget, layout.row_bytes(), RowsPerChunk(stripe_budget, layout.row_bytes()));
  if (rows < kMinStripeRows) {
    return InvalidArgumentError(
        "tiered table: memory_budget_bytes " + std::to_string(options.memory_budget_bytes) +
        " leaves fewer than " + std::to_string(kMinStripeRows) + " rows in each of " +
        std::to_string(options.table.num_stripes) + " stripes");
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<TieredSparseTable>> TieredSparseTable::Open(
    const TieredTableOptions& options, std::shared_ptr<RocksTier> tier) {
  RETURN_IF_ERROR(ValidateTieredTableOptions(options));
  if (tier == nullptr) return InvalidArgumentError("tiered table: null tier");
  ASSIGN_OR_RETURN(RocksTier::Column * column, tier->OpenColumn(options.column_family));
  const RowLayout layout(options.table.dim, StateFloatsPerWeight(options.table.optimizer.kind));
  const uint64_t stripe_budget = options.memory_budget_bytes / options.table.num_stripes;
  const size_t chunk = RowsPerChunk(stripe_budget, layout.row_bytes());
  const size_t capacity = CapacityFor(stripe_budget, layout.row_bytes(), chunk);
  std::unique_ptr<TieredSparseTable> table(
      new TieredSparseTable(options, std::move(tier), column, capacity, chunk));
  // Rows already in the column family (a reopened tier) are the table's.
  uint64_t found = 0;
  RETURN_IF_ERROR(table->tier_->ForEachInRange(
      column, 0, ~uint64_t{0}, [&](uint64_t key, const rocksdb::Slice&) {
        ++table->stripes_[table->StripeOf(Mix64(key))]->disk_rows;
        ++found;
      }));
  if (found > 0) {
    LOG(INFO) << "tiered table " << options.column_family << ": " << found
              << " rows on disk at open";
  }
  return table;
}

TieredSparseTable::TieredSparseTable(const TieredTableOptions& options,
                                     std::shared_ptr<RocksTier> tier, RocksTier::Column* column,
                                     size_t capacity, size_t rows_per_chunk)
    : options_(options),
      layout_(options.table.dim, StateFloatsPerWeight(options.table.optimizer.kind)),
      updater_(options.table.optimizer),
      tier_(std::move(tier)),
      column_(column),
      capacity_(capacity),
      shift_(64 - Log2(options.table.num_stripes)) {
  const size_t sketch = options.table.admit_after > 1
                            ? options.table.admission_counters / options.table.num_stripes
                            : 0;
  stripes_.reserve(options.table.num_stripes);
  for (int i = 0; i < options.table.num_stripes; ++i) {
    stripes_.push_back(std::make_unique<Stripe>(layout_.row_bytes(), rows_per_chunk, sketch));
  }
}

TieredSparseTable::~TieredSparseTable() {
  for (auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    const Status s = WriteBackDirty(stripe.get());
    if (!s.ok()) {
      LOG(ERROR) << "tiered table " << options_.column_family
                 << ": dirty rows lost at shutdown: " << s.ToString();
      tier_->MarkUnclean();
    }
  }
}

Status TieredSparseTable::Pull(const uint64_t* keys, size_t n, bool create_missing,
                               float* values, uint64_t* counts) {
  RETURN_IF_ERROR(table_internal::CheckCall("Pull", keys, n, values));
  if (n == 0) return Status::OK();
  Call call;
  call.op = TieredOp::kPull;
  call.keys = keys;
  call.n = n;
  call.create_missing = create_missing;
  call.values = values;
  call.counts = counts;
  RETURN_IF_ERROR(Run(&call));
  counters_.pulls.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status TieredSparseTable::Push(const uint64_t* keys, size_t n, const float* grads,
                               const uint32_t* occurrences, int64_t step) {
  RETURN_IF_ERROR(table_internal::CheckCall("Push", keys, n, grads));
  if (n == 0) return Status::OK();
  RETURN_IF_ERROR(table_internal::CheckGradients(keys, n, options_.table.dim, grads));
  Call call;
  call.op = TieredOp::kPush;
  call.keys = keys;
  call.n = n;
  call.grads = grads;
  call.occurrences = occurrences;
  call.step = step;
  RETURN_IF_ERROR(Run(&call));
  counters_.NoteStep(step);
  counters_.pushes.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status TieredSparseTable::ImportRows(const RowView* rows, size_t n) {
  RETURN_IF_ERROR(table_internal::CheckImportRows(rows, n, layout_));
  if (n == 0) return Status::OK();
  // Bounds n as for the other calls (keys are gathered below).
  RETURN_IF_ERROR(table_internal::CheckCall("ImportRows", &rows[0].key, n, rows));
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = rows[i].key;
  Call call;
  call.op = TieredOp::kImport;
  call.keys = keys.data();
  call.n = n;
  call.rows = rows;
  return Run(&call);
}

Status TieredSparseTable::Run(Call* call) {
  table_internal::GroupByStripe(call->keys, call->n, stripes_.size(),
                                [this](uint64_t h) { return StripeOf(h); }, &call->g);
  const size_t chunk = std::max<size_t>(1, capacity_ / 2);
  Status status;
  for (size_t s = 0; s < stripes_.size() && status.ok(); ++s) {
    const uint32_t begin = call->g.begin[s], end = call->g.begin[s + 1];
    if (begin == end) continue;
    Stripe* stripe = stripes_[s].get();
    std::lock_guard<std::mutex> lock(stripe->mu);
    for (uint32_t j = begin; j < end && status.ok(); j += chunk) {
      status = RunChunk(stripe, call, &call->g.order[j], std::min<size_t>(chunk, end - j));
      // Unpin whatever the chunk pinned, even after an error.
      for (uint32_t slot : call->pinned) stripe->flags[slot] &= ~kPinned;
      call->pinned.clear();
    }
  }
  call->tally.AddTo(&counters_);
  return status;
}

Status TieredSparseTable::RunChunk(Stripe* stripe, Call* call, const uint32_t* idx, size_t m) {
  const size_t row_bytes = layout_.row_bytes();
  const int dim = options_.table.dim;
  const bool admission = options_.table.admit_after > 1;
  const uint64_t* hashes = call->g.hashes.data();
  RowStore& store = stripe->store;

  // 1. Pin the resident rows; collect the distinct misses.
  call->misses.clear();
  for (size_t j = 0; j < m; ++j) {
    const uint32_t i = idx[j];
    const uint32_t slot = store.FindSlot(call->keys[i], hashes[i]);
    if (slot == RowStore::kNoSlot) {
      ++call->tally.misses;
      call->misses.push_back(hashes[i]);
      continue;
    }
    ++call->tally.hits;
    uint8_t& flags = stripe->flags[slot];
    if (!(flags & kPinned)) call->pinned.push_back(slot);
    flags |= kPinned | kReferenced;
  }
  std::sort(call->misses.begin(), call->misses.end());
  call->misses.erase(std::unique(call->misses.begin(), call->misses.end()), call->misses.end());
  const size_t num_misses = call->misses.size();

  // 2. Read the misses that may be on disk with one MultiGet.
  call->found.reset(new bool[num_misses]());
  size_t num_found = 0;
  if (num_misses > 0 && stripe->disk_rows > 0) {
    call->loaded.resize(num_misses * row_bytes);
    RETURN_IF_ERROR(tier_->MultiGet(column_, call->misses.data(), num_misses, row_bytes,
                                    call->loaded.data(), call->found.get()));
    num_found = std::count(call->found.get(), call->found.get() + num_misses, true);
  }

  // 3. Room for every row this chunk may add, then the loaded rows.
  RETURN_IF_ERROR(MakeRoom(stripe, call->creates() ? num_misses : num_found,
                           call->pinned.size()));
  for (size_t k = 0; k < num_misses; ++k) {
    if (!call->found[k]) continue;
    const uint64_t hash = call->misses[k];
    const uint32_t slot = AddRow(stripe, UnMix64(hash), hash, kOnDisk | kPinned | kReferenced);
    std::memcpy(store.RowAt(slot), &call->loaded[k * row_bytes], row_bytes);
    call->pinned.push_back(slot);
  }
  disk_loads_.fetch_add(num_found, std::memory_order_relaxed);

  // 4. Apply the call to each key, in call order.
  for (size_t j = 0; j < m; ++j) {
    const uint32_t i = idx[j];
    const uint64_t key = call->keys[i];
    uint32_t slot = store.FindSlot(key, hashes[i]);
    if (slot == RowStore::kNoSlot) {
      const bool admitted =
          call->creates() &&
          (call->op == TieredOp::kImport || !admission ||
           stripe->sketch.Add(hashes[i]) >= static_cast<uint32_t>(options_.table.admit_after));
      if (!admitted) {
        if (call->op == TieredOp::kPush) {
          ++call->tally.unadmitted_pushes;
          continue;
        }
        float* out = call->values + static_cast<size_t>(i) * dim;
        if (call->create_missing) ++call->tally.unadmitted_pulls;
        if (admission) {
          std::fill(out, out + dim, 0.0f);
        } else {
          InitialRowValues(options_.table, key, out);
        }
        if (call->counts != nullptr) call->counts[i] = 0;
        continue;
      }
      slot = AddRow(stripe, key, hashes[i], kDirty | kPinned | kReferenced);
      call->pinned.push_back(slot);
      if (call->op != TieredOp::kImport) {
        table_internal::InitRow(options_.table, layout_, key, store.RowAt(slot));
        ++call->tally.created;
        call->tally.admissions += admission;
      }
    }
    uint8_t* row = store.RowAt(slot);
    switch (call->op) {
      case TieredOp::kPull:
        std::memcpy(call->values + static_cast<size_t>(i) * dim, RowLayout::weights(row),
                    sizeof(float) * dim);
        if (call->counts != nullptr) call->counts[i] = RowLayout::header(row)->count;
        break;
      case TieredOp::kPush:
        table_internal::ApplyPush(updater_, options_.table, layout_,
                                  call->grads + size_t{i} * dim,
                                  call->occurrences != nullptr ? call->occurrences[i] : 0,
                                  call->step, row);
        stripe->flags[slot] |= kDirty;
        break;
      case TieredOp::kImport:
        table_internal::CopyImport(layout_, call->rows[i], row);
        stripe->flags[slot] |= kDirty;
        break;
    }
  }
  return Status::OK();
}

uint32_t TieredSparseTable::AddRow(Stripe* stripe, uint64_t key, uint64_t hash, uint8_t flags) {
  const uint32_t slot = stripe->store.InsertSlot(key, hash);
  CHECK_NE(slot, RowStore::kNoSlot) << "stripe capacity is below RowStore::kMaxRows";
  DCHECK_LE(stripe->store.size(), capacity_);
  if (slot >= stripe->flags.size()) stripe->flags.resize(stripe->store.slot_limit(), 0);
  stripe->flags[slot] = flags;
  if (!(flags & kOnDisk)) ++stripe->memory_only;
  return slot;
}

Status TieredSparseTable::MakeRoom(Stripe* stripe, size_t rows, size_t pinned) {
  RowStore& store = stripe->store;
  if (store.size() + rows <= capacity_) return Status::OK();
  const size_t deficit = store.size() + rows - capacity_;
  // Evict a few rows more than needed so that spills go out in batches.
  const size_t batch = std::max<size_t>(1, std::min<size_t>(64, capacity_ / 8));
  const size_t evictable = store.size() - pinned;
  CHECK_LE(deficit, evictable) << "a chunk needs more rows than the stripe holds";
  const size_t want = std::min(std::max(deficit, batch), evictable);

  std::vector<std::pair<uint64_t, uint32_t>> victims;
  victims.reserve(want);
  rocksdb::WriteBatch writes;
  size_t dirty = 0;
  const size_t positions = store.index_positions();
  // Two sweeps always suffice: the first clears every referenced bit.
  for (size_t steps = 0; victims.size() < want && steps < 3 * positions; ++steps) {
    const size_t pos = stripe->hand % positions;
    stripe->hand = (pos + 1) % positions;
    uint64_t key;
    uint32_t slot;
    if (!store.EntryAt(pos, &key, &slot)) continue;
    uint8_t& flags = stripe->flags[slot];
    if (flags & kPinned) continue;
    if (flags & kReferenced) {
      flags &= ~kReferenced;
      continue;
    }
    flags |= kPinned;  // chosen: not chosen twice, nor touched meanwhile
    victims.emplace_back(key, slot);
    if (flags & kDirty) {
      RocksTier::Put(&writes, column_, Mix64(key), store.RowAt(slot), layout_.row_bytes());
      ++dirty;
    }
  }
  CHECK_EQ(victims.size(), want) << "CLOCK found too few unpinned rows";
  if (dirty > 0) {
    const Status s = tier_->Write(&writes);
    if (!s.ok()) {
      for (const auto& victim : victims) stripe->flags[victim.second] &= ~kPinned;
      return s;
    }
  }
  // The spilled rows are on disk: only now may they leave memory.
  for (const auto& [key, slot] : victims) {
    const uint8_t flags = stripe->flags[slot];
    if (!(flags & kOnDisk)) {
      --stripe->memory_only;
      ++stripe->disk_rows;
    }
    CHECK(store.Erase(key, Mix64(key)));
    stripe->flags[slot] = 0;
  }
  spills_.fetch_add(dirty, std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace dips
