#include "ps/memory_table.h"

#include <algorithm>
#include <cstring>

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {

using table_internal::CallTally;
using table_internal::Grouping;

namespace {

// Pushes look a call's gradients up this many keys ahead of the one applied.
constexpr size_t kGradientPrefetch = 8;

}  // namespace

MemorySparseTable::MemorySparseTable(const SparseTableOptions& options)
    : options_(options),
      layout_(options.dim, StateFloatsPerWeight(options.optimizer.kind)),
      updater_(options.optimizer),
      stripe_mask_(static_cast<uint64_t>(options.num_stripes) - 1) {
  CHECK(ValidateSparseTableOptions(options).ok()) << "options were not validated";
  const size_t sketch =
      options.admit_after > 1 ? options.admission_counters / options.num_stripes : 0;
  stripes_.reserve(options.num_stripes);
  for (int i = 0; i < options.num_stripes; ++i) {
    stripes_.push_back(std::make_unique<Stripe>(layout_.row_bytes(), sketch));
  }
}

bool MemorySparseTable::Admit(Stripe* stripe, uint64_t hash) const {
  return options_.admit_after <= 1 ||
         stripe->sketch.Add(hash) >= static_cast<uint32_t>(options_.admit_after);
}

uint8_t* MemorySparseTable::CreateRow(RowStore* store, uint64_t key, uint64_t hash) {
  uint8_t* row = store->Insert(key, hash);
  if (row != nullptr) table_internal::InitRow(options_, layout_, key, row);
  return row;
}

Status MemorySparseTable::Pull(const uint64_t* keys, size_t n, bool create_missing,
                               float* values, uint64_t* counts) {
  RETURN_IF_ERROR(table_internal::CheckCall("Pull", keys, n, values));
  if (n == 0) return Status::OK();
  const int dim = options_.dim;
  const bool admission = options_.admit_after > 1;
  Grouping g;
  table_internal::GroupByStripe(keys, n, stripes_.size(),
                                [this](uint64_t h) { return StripeOf(h); }, &g);
  // A pull reads the header (count) and the weights of each row.
  const size_t read_bytes = sizeof(RowHeader) + sizeof(float) * dim;
  std::vector<uint32_t> slots;
  CallTally tally;
  Status status;
  for (size_t s = 0; s < stripes_.size() && status.ok(); ++s) {
    if (g.begin[s] == g.begin[s + 1]) continue;
    Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    stripe.store.VisitBatch(keys, g.hashes.data(), g.order.data() + g.begin[s],
                            g.begin[s + 1] - g.begin[s], read_bytes, &slots,
                            [&](uint32_t i, uint32_t slot) {
      if (!status.ok()) return;
      float* out = values + static_cast<size_t>(i) * dim;
      uint8_t* row = slot == RowStore::kNoSlot ? nullptr : stripe.store.RowAt(slot);
      ++(row != nullptr ? tally.hits : tally.misses);
      if (row == nullptr && create_missing) {
        if (Admit(&stripe, g.hashes[i])) {
          row = CreateRow(&stripe.store, keys[i], g.hashes[i]);
          if (row == nullptr) {
            status = table_internal::StoreFull(keys[i]);
            return;
          }
          ++tally.created;
          tally.admissions += admission;
        } else {
          ++tally.unadmitted_pulls;
        }
      }
      if (row == nullptr) {
        // Without admission an absent key reads as its initial row; with
        // admission, as the default row (it may never become a row).
        if (admission) {
          std::fill(out, out + dim, 0.0f);
        } else {
          InitialRowValues(options_, keys[i], out);
        }
        if (counts != nullptr) counts[i] = 0;
        return;
      }
      std::memcpy(out, RowLayout::weights(row), sizeof(float) * dim);
      if (counts != nullptr) counts[i] = RowLayout::header(row)->count;
    });
  }
  tally.AddTo(&counters_);
  RETURN_IF_ERROR(status);
  counters_.pulls.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status MemorySparseTable::Push(const uint64_t* keys, size_t n, const float* grads,
                               const uint32_t* occurrences, int64_t step) {
  RETURN_IF_ERROR(table_internal::CheckCall("Push", keys, n, grads));
  if (n == 0) return Status::OK();
  const size_t dim = options_.dim;
  RETURN_IF_ERROR(table_internal::CheckGradients(keys, n, dim, grads));
  const bool admission = options_.admit_after > 1;
  Grouping g;
  table_internal::GroupByStripe(keys, n, stripes_.size(),
                                [this](uint64_t h) { return StripeOf(h); }, &g);
  std::vector<uint32_t> slots;
  CallTally tally;
  Status status;
  for (size_t s = 0; s < stripes_.size() && status.ok(); ++s) {
    if (g.begin[s] == g.begin[s + 1]) continue;
    Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    const uint32_t* order = g.order.data() + g.begin[s];
    const size_t m = g.begin[s + 1] - g.begin[s];
    size_t visited = 0;
    stripe.store.VisitBatch(keys, g.hashes.data(), order, m, layout_.row_bytes(), &slots,
                            [&](uint32_t i, uint32_t slot) {
      // The stripe visits the call's gradients out of order: fetch the ones
      // a few keys ahead, as VisitBatch does their rows.
      if (visited + kGradientPrefetch < m) {
        const float* ahead = grads + order[visited + kGradientPrefetch] * dim;
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + dim - 1);
      }
      ++visited;
      if (!status.ok()) return;
      uint8_t* row = slot == RowStore::kNoSlot ? nullptr : stripe.store.RowAt(slot);
      ++(row != nullptr ? tally.hits : tally.misses);
      if (row == nullptr) {
        if (!Admit(&stripe, g.hashes[i])) {
          ++tally.unadmitted_pushes;
          return;
        }
        row = CreateRow(&stripe.store, keys[i], g.hashes[i]);
        if (row == nullptr) {
          status = table_internal::StoreFull(keys[i]);
          return;
        }
        ++tally.created;
        tally.admissions += admission;
      }
      table_internal::ApplyPush(updater_, options_, layout_, grads + i * dim,
                                occurrences != nullptr ? occurrences[i] : 0, step, row);
    });
  }
  tally.AddTo(&counters_);
  RETURN_IF_ERROR(status);
  counters_.NoteStep(step);
  counters_.pushes.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status MemorySparseTable::ImportRows(const RowView* rows, size_t n) {
  RETURN_IF_ERROR(table_internal::CheckImportRows(rows, n, layout_));
  for (size_t i = 0; i < n; ++i) {
    const RowView& r = rows[i];
    const uint64_t hash = Mix64(r.key);
    Stripe& stripe = *stripes_[StripeOf(hash)];
    std::lock_guard<std::mutex> lock(stripe.mu);
    uint8_t* row = stripe.store.Find(r.key, hash);
    if (row == nullptr) {
      row = stripe.store.Insert(r.key, hash);
      if (row == nullptr) return table_internal::StoreFull(r.key);
    }
    table_internal::CopyImport(layout_, r, row);
  }
  return Status::OK();
}

SparseTableStats MemorySparseTable::Stats() const {
  SparseTableStats stats;
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    stats.rows += stripe->store.size();
    stats.bytes += stripe->store.bytes() + stripe->sketch.bytes();
  }
  stats.rows_in_memory = stats.rows;
  counters_.Fill(&stats);
  return stats;
}

void MemorySparseTable::ForEachRow(const std::function<void(const RowView&)>& fn) const {
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    stripe->store.ForEach([&](uint64_t key, const uint8_t* row) {
      fn(table_internal::ViewOf(layout_, key, row));
    });
  }
}

StatusOr<ShrinkResult> MemorySparseTable::Shrink(const ShrinkOptions& options) {
  const table_internal::ShrinkRule rule(options,
                                        counters_.latest_step.load(std::memory_order_relaxed));
  ShrinkResult result;
  std::vector<uint64_t> doomed;
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    doomed.clear();
    stripe->store.ForEach([&](uint64_t key, const uint8_t* row) {
      if (rule.Removes(*RowLayout::header(row))) doomed.push_back(key);
    });
    result.rows_scanned += stripe->store.size();
    for (uint64_t key : doomed) {
      CHECK(stripe->store.Erase(key, Mix64(key)));
    }
    result.rows_removed += doomed.size();
    stripe->sketch.Halve();
  }
  counters_.evictions.fetch_add(result.rows_removed, std::memory_order_relaxed);
  counters_.shrink_passes.fetch_add(1, std::memory_order_relaxed);
  return result;
}

}  // namespace dips
