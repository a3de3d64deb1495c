#include "ps/table_common.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "ps/sparse_optimizer.h"

namespace dips {
namespace table_internal {
namespace {

// Calls carry one uint32 index per key.
constexpr size_t kMaxKeysPerCall = std::numeric_limits<uint32_t>::max();

// x * 0 is 0 for every finite x and NaN for an infinity or a NaN, so one
// vectorised sum answers for the whole array (an early-exit loop does not
// vectorise; this check runs over every pushed gradient).
bool AllFinite(const float* v, size_t n) {
  float probe = 0.0f;
#pragma omp simd reduction(+ : probe)
  for (size_t i = 0; i < n; ++i) probe += v[i] * 0.0f;
  return probe == 0.0f;
}

}  // namespace

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

Status CheckGradients(const uint64_t* keys, size_t n, size_t dim, const float* grads) {
  // One non-finite gradient would poison a row for good; refuse the whole
  // push before touching anything. The fast check first; the loop below
  // only runs to name the key.
  if (AllFinite(grads, n * dim)) return Status::OK();
  for (size_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(grads[i])) {
      return InvalidArgumentError("Push: non-finite gradient for key " +
                                  std::to_string(keys[i / dim]));
    }
  }
  return Status::OK();
}

Status CheckImportRows(const RowView* rows, size_t n, const RowLayout& layout) {
  if (n == 0) return Status::OK();
  if (rows == nullptr) return InvalidArgumentError("ImportRows: null rows with n > 0");
  const size_t state_floats = layout.state_floats();
  for (size_t i = 0; i < n; ++i) {
    const RowView& r = rows[i];
    if (r.weights == nullptr || (state_floats > 0 && r.state == nullptr)) {
      return InvalidArgumentError("ImportRows: null weights or state for key " +
                                  std::to_string(r.key));
    }
    if (!AllFinite(r.weights, layout.dim())) {
      return InvalidArgumentError("ImportRows: non-finite weight for key " +
                                  std::to_string(r.key));
    }
    if (state_floats > 0 && !AllFinite(r.state, state_floats)) {
      return InvalidArgumentError("ImportRows: non-finite state for key " +
                                  std::to_string(r.key));
    }
  }
  return Status::OK();
}

Status StoreFull(uint64_t key) {
  return ResourceExhaustedError("sparse table stripe full; cannot create key " +
                                std::to_string(key));
}

void InitRow(const SparseTableOptions& options, const RowLayout& layout, uint64_t key,
             uint8_t* row) {
  RowLayout::header(row)->last_update_step = -1;
  float* weights = RowLayout::weights(row);
  InitialRowValues(options, key, weights);
  InitSparseOptimizerState(options.optimizer, options.dim, weights, layout.state(row));
}

void ApplyPush(const SparseUpdater& updater, const SparseTableOptions& options,
               const RowLayout& layout, const float* grad, uint32_t occurrences, int64_t step,
               uint8_t* row) {
  RowHeader* header = RowLayout::header(row);
  updater.Apply(options.dim, grad, header->update_count, RowLayout::weights(row),
                layout.state(row));
  ++header->update_count;
  header->count += occurrences;
  header->last_update_step = step;
}

void CopyImport(const RowLayout& layout, const RowView& view, uint8_t* row) {
  RowHeader* header = RowLayout::header(row);
  header->count = view.count;
  header->last_update_step = view.last_update_step;
  header->update_count = view.update_count;
  std::memcpy(RowLayout::weights(row), view.weights, sizeof(float) * layout.dim());
  if (layout.state_floats() > 0) {
    std::memcpy(layout.state(row), view.state, sizeof(float) * layout.state_floats());
  }
}

RowView ViewOf(const RowLayout& layout, uint64_t key, const uint8_t* row) {
  const RowHeader* header = RowLayout::header(row);
  return RowView{key,           RowLayout::weights(row),  layout.state(row),
                 header->count, header->last_update_step, header->update_count};
}

ShrinkRule::ShrinkRule(const ShrinkOptions& options, int64_t latest_step)
    : ttl_(options.ttl_steps >= 0),
      min_count_(options.min_count) {
  const int64_t now = options.now_step >= 0 ? options.now_step : latest_step;
  // A table never pushed has now = -1: the TTL rule then keeps every row
  // (no stored step is below -1 - ttl_steps).
  oldest_kept_step_ = ttl_ ? now - options.ttl_steps : 0;
}

void TableCounters::NoteStep(int64_t step) {
  int64_t seen = latest_step.load(std::memory_order_relaxed);
  while (step > seen &&
         !latest_step.compare_exchange_weak(seen, step, std::memory_order_relaxed)) {
  }
}

void TableCounters::Fill(SparseTableStats* s) const {
  s->pulls = pulls.load(std::memory_order_relaxed);
  s->pushes = pushes.load(std::memory_order_relaxed);
  s->rows_created = rows_created.load(std::memory_order_relaxed);
  s->memory_hits = memory_hits.load(std::memory_order_relaxed);
  s->memory_misses = memory_misses.load(std::memory_order_relaxed);
  s->admissions = admissions.load(std::memory_order_relaxed);
  s->unadmitted_pulls = unadmitted_pulls.load(std::memory_order_relaxed);
  s->unadmitted_pushes = unadmitted_pushes.load(std::memory_order_relaxed);
  s->evictions = evictions.load(std::memory_order_relaxed);
  s->shrink_passes = shrink_passes.load(std::memory_order_relaxed);
  s->latest_step = latest_step.load(std::memory_order_relaxed);
}

void CallTally::AddTo(TableCounters* c) const {
  c->memory_hits.fetch_add(hits, std::memory_order_relaxed);
  c->memory_misses.fetch_add(misses, std::memory_order_relaxed);
  c->rows_created.fetch_add(created, std::memory_order_relaxed);
  c->admissions.fetch_add(admissions, std::memory_order_relaxed);
  c->unadmitted_pulls.fetch_add(unadmitted_pulls, std::memory_order_relaxed);
  c->unadmitted_pushes.fetch_add(unadmitted_pushes, std::memory_order_relaxed);
}

}  // namespace table_internal
}  // namespace dips
