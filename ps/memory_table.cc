#include "ps/memory_table.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/feature_key.h"

namespace dips {
namespace {

// Calls carry one uint32 index per key.
constexpr size_t kMaxKeysPerCall = std::numeric_limits<uint32_t>::max();

Status CheckCall(const char* what, const uint64_t* keys, size_t n, const void* data) {
  if (n == 0) return Status::OK();
  if (keys == nullptr || data == nullptr) {
    return InvalidArgumentError(std::string(what) + ": null keys or values with n > 0");
  }
  if (n > kMaxKeysPerCall) {
    return InvalidArgumentError(std::string(what) + ": too many keys in one call: " +
                                std::to_string(n));
  }
  return Status::OK();
}

Status StoreFull(uint64_t key) {
  return ResourceExhaustedError("sparse table stripe full; cannot create key " +
                                std::to_string(key));
}

}  // namespace

MemorySparseTable::MemorySparseTable(const SparseTableOptions& options)
    : options_(options),
      layout_(options.dim, StateFloatsPerWeight(options.optimizer.kind)),
      stripe_mask_(static_cast<uint64_t>(options.num_stripes) - 1) {
  CHECK(ValidateSparseTableOptions(options).ok()) << "options were not validated";
  stripes_.reserve(options.num_stripes);
  for (int i = 0; i < options.num_stripes; ++i) {
    stripes_.push_back(std::make_unique<Stripe>(layout_.row_bytes()));
  }
}

void MemorySparseTable::GroupByStripe(const uint64_t* keys, size_t n, Grouping* g) const {
  const size_t num_stripes = stripes_.size();
  g->hashes.resize(n);
  g->order.resize(n);
  g->begin.assign(num_stripes + 1, 0);
  // Counting sort by stripe; stable, so a stripe's keys keep call order.
  for (size_t i = 0; i < n; ++i) {
    g->hashes[i] = Mix64(keys[i]);
    ++g->begin[StripeOf(g->hashes[i]) + 1];
  }
  for (size_t s = 0; s < num_stripes; ++s) g->begin[s + 1] += g->begin[s];
  std::vector<uint32_t> next(g->begin.begin(), g->begin.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    g->order[next[StripeOf(g->hashes[i])]++] = static_cast<uint32_t>(i);
  }
}

uint8_t* MemorySparseTable::CreateRow(RowStore* store, uint64_t key, uint64_t hash) {
  uint8_t* row = store->Insert(key, hash);
  if (row == nullptr) return nullptr;
  RowLayout::header(row)->last_update_step = -1;
  float* weights = RowLayout::weights(row);
  InitialRowValues(options_, key, weights);
  InitSparseOptimizerState(options_.optimizer, options_.dim, weights, layout_.state(row));
  rows_created_.fetch_add(1, std::memory_order_relaxed);
  return row;
}

Status MemorySparseTable::Pull(const uint64_t* keys, size_t n, bool create_missing,
                               float* values, uint64_t* counts) {
  RETURN_IF_ERROR(CheckCall("Pull", keys, n, values));
  if (n == 0) return Status::OK();
  const int dim = options_.dim;
  Grouping g;
  GroupByStripe(keys, n, &g);
  for (size_t s = 0; s < stripes_.size(); ++s) {
    if (g.begin[s] == g.begin[s + 1]) continue;
    Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    for (uint32_t j = g.begin[s]; j < g.begin[s + 1]; ++j) {
      const uint32_t i = g.order[j];
      float* out = values + static_cast<size_t>(i) * dim;
      uint8_t* row = stripe.store.Find(keys[i], g.hashes[i]);
      if (row == nullptr && create_missing) {
        row = CreateRow(&stripe.store, keys[i], g.hashes[i]);
        if (row == nullptr) return StoreFull(keys[i]);
      }
      if (row == nullptr) {
        InitialRowValues(options_, keys[i], out);
        if (counts != nullptr) counts[i] = 0;
        continue;
      }
      std::memcpy(out, RowLayout::weights(row), sizeof(float) * dim);
      if (counts != nullptr) counts[i] = RowLayout::header(row)->count;
    }
  }
  pulls_.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status MemorySparseTable::Push(const uint64_t* keys, size_t n, const float* grads,
                               const uint32_t* occurrences, int64_t step) {
  RETURN_IF_ERROR(CheckCall("Push", keys, n, grads));
  if (n == 0) return Status::OK();
  const size_t dim = options_.dim;
  // One non-finite gradient would poison a row for good; refuse the whole
  // push before touching anything.
  for (size_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(grads[i])) {
      return InvalidArgumentError("Push: non-finite gradient for key " +
                                  std::to_string(keys[i / dim]));
    }
  }
  Grouping g;
  GroupByStripe(keys, n, &g);
  for (size_t s = 0; s < stripes_.size(); ++s) {
    if (g.begin[s] == g.begin[s + 1]) continue;
    Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    for (uint32_t j = g.begin[s]; j < g.begin[s + 1]; ++j) {
      const uint32_t i = g.order[j];
      uint8_t* row = stripe.store.Find(keys[i], g.hashes[i]);
      if (row == nullptr) {
        row = CreateRow(&stripe.store, keys[i], g.hashes[i]);
        if (row == nullptr) return StoreFull(keys[i]);
      }
      RowHeader* header = RowLayout::header(row);
      ApplySparseUpdate(options_.optimizer, options_.dim, grads + i * dim,
                        header->update_count, RowLayout::weights(row), layout_.state(row));
      ++header->update_count;
      if (occurrences != nullptr) header->count += occurrences[i];
      header->last_update_step = step;
    }
  }
  pushes_.fetch_add(n, std::memory_order_relaxed);
  return Status::OK();
}

Status MemorySparseTable::ImportRows(const RowView* rows, size_t n) {
  if (n == 0) return Status::OK();
  if (rows == nullptr) return InvalidArgumentError("ImportRows: null rows with n > 0");
  const size_t dim = options_.dim;
  const size_t state_floats = layout_.state_floats();
  for (size_t i = 0; i < n; ++i) {
    const RowView& r = rows[i];
    if (r.weights == nullptr || (state_floats > 0 && r.state == nullptr)) {
      return InvalidArgumentError("ImportRows: null weights or state for key " +
                                  std::to_string(r.key));
    }
    for (size_t j = 0; j < dim; ++j) {
      if (!std::isfinite(r.weights[j])) {
        return InvalidArgumentError("ImportRows: non-finite weight for key " +
                                    std::to_string(r.key));
      }
    }
    for (size_t j = 0; j < state_floats; ++j) {
      if (!std::isfinite(r.state[j])) {
        return InvalidArgumentError("ImportRows: non-finite state for key " +
                                    std::to_string(r.key));
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const RowView& r = rows[i];
    const uint64_t hash = Mix64(r.key);
    Stripe& stripe = *stripes_[StripeOf(hash)];
    std::lock_guard<std::mutex> lock(stripe.mu);
    uint8_t* row = stripe.store.Find(r.key, hash);
    if (row == nullptr) {
      row = stripe.store.Insert(r.key, hash);
      if (row == nullptr) return StoreFull(r.key);
    }
    RowHeader* header = RowLayout::header(row);
    header->count = r.count;
    header->last_update_step = r.last_update_step;
    header->update_count = r.update_count;
    std::memcpy(RowLayout::weights(row), r.weights, sizeof(float) * dim);
    if (state_floats > 0) {
      std::memcpy(layout_.state(row), r.state, sizeof(float) * state_floats);
    }
  }
  return Status::OK();
}

SparseTableStats MemorySparseTable::Stats() const {
  SparseTableStats stats;
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    stats.rows += stripe->store.size();
    stats.bytes += stripe->store.bytes();
  }
  stats.pulls = pulls_.load(std::memory_order_relaxed);
  stats.pushes = pushes_.load(std::memory_order_relaxed);
  stats.rows_created = rows_created_.load(std::memory_order_relaxed);
  return stats;
}

void MemorySparseTable::ForEachRow(const std::function<void(const RowView&)>& fn) const {
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    stripe->store.ForEach([&](uint64_t key, const uint8_t* row) {
      const RowHeader* header = RowLayout::header(row);
      fn(RowView{key, RowLayout::weights(row), layout_.state(row), header->count,
                 header->last_update_step, header->update_count});
    });
  }
}

}  // namespace dips
