// TrainerImpl: handing batches and their rows to the replicas, with row
// prefetching, and waiting for pushes.
#include "worker/train/trainer_impl.h"

#include <utility>

namespace dips {
namespace train_internal {

StatusOr<int> TrainerImpl::FillReplicas(BatchStream* stream) {
  int got = 0;
  for (auto& replica : replicas_) {
    ASSIGN_OR_RETURN(bool more, stream->Next(&replica->batch));
    replica->has_batch = more;
    if (!more) break;
    ++got;
  }
  return got;
}

StatusOr<int> TrainerImpl::FillTrainReplicas() {
  if (!prefetch_) return FillReplicas(train_stream_.get());
  if (!prefetch_primed_) {
    for (auto& rep : replicas_) RETURN_IF_ERROR(TakeAndPrefetch(rep.get()));
    prefetch_primed_ = true;
  }
  int got = 0;
  for (auto& rep : replicas_) {
    rep->has_batch = rep->has_next;
    if (!rep->has_next) break;
    RETURN_IF_ERROR(WaitPrefetch(rep.get()));
    std::swap(rep->batch, rep->next_batch);
    rep->rows.swap(rep->next_rows);
    rep->counts.swap(rep->next_counts);
    rep->rows_ready = true;
    ++got;
  }
  for (int r = 0; r < got; ++r) {
    // The prefetched rows miss this step's push and the ones still in
    // flight: draining to max_staleness - 1 first keeps the bound.
    RETURN_IF_ERROR(DrainPushes(replicas_[r].get(), options_.max_staleness - 1));
    RETURN_IF_ERROR(TakeAndPrefetch(replicas_[r].get()));
  }
  return got;
}

Status TrainerImpl::TakeAndPrefetch(Replica* rep) {
  ASSIGN_OR_RETURN(rep->has_next, train_stream_->Next(&rep->next_batch));
  if (!rep->has_next) return Status::OK();
  const int k = rep->next_batch.num_unique_keys();
  rep->next_rows.resize(static_cast<size_t>(k) * options_.model.embedding_dim);
  rep->next_counts.resize(k);
  rep->next_pull = store_->Pull(rep->next_batch.unique_keys.data(), k, /*create_missing=*/true,
                                rep->next_rows.data(), rep->next_counts.data());
  return Status::OK();
}

Status TrainerImpl::WaitPrefetch(Replica* rep) {
  if (rep->next_pull == 0) return Status::OK();
  const uint64_t ticket = rep->next_pull;
  rep->next_pull = 0;
  return store_->Wait(ticket);
}

Status TrainerImpl::PullRows(Replica* rep, bool create_missing) {
  const int k = rep->batch.num_unique_keys();
  const int dim = options_.model.embedding_dim;
  rep->rows.resize(static_cast<size_t>(k) * dim);
  rep->counts.resize(k);
  const uint64_t ticket = store_->Pull(rep->batch.unique_keys.data(), k, create_missing,
                                       rep->rows.data(), rep->counts.data());
  return store_->Wait(ticket);
}

Status TrainerImpl::DrainPushes(Replica* rep, size_t keep) {
  while (rep->pushes.size() > keep) {
    const uint64_t ticket = rep->pushes.front();
    rep->pushes.pop_front();
    RETURN_IF_ERROR(store_->Wait(ticket));
  }
  return Status::OK();
}

}  // namespace train_internal
}  // namespace dips
