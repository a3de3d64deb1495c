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
    for (auto& rep : replicas_) {
      RETURN_IF_ERROR(SettlePushes(rep.get()));  // none: a pass ends with its pushes sent
      RETURN_IF_ERROR(TakeAndPrefetch(rep.get()));
    }
    prefetch_primed_ = true;
  }
  for (auto& rep : replicas_) {
    // The held-back push's batch steps aside for the batch coming in.
    if (rep->push_deferred) std::swap(rep->batch, rep->pushed_batch);
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
  for (int r = 0; r < static_cast<int>(replicas_.size()); ++r) {
    Replica* rep = replicas_[r].get();
    if (r >= got) {
      // No batch this step; its last push still goes out.
      if (rep->push_deferred) RETURN_IF_ERROR(SendDeferredPush(rep, rep->pushed_batch));
      continue;
    }
    // The prefetched rows miss this step's push and the ones still in
    // flight: draining to max_staleness - 1 first keeps the bound. A push
    // sent with the pull is in the rows, so it does not count.
    RETURN_IF_ERROR(DrainPushes(rep, options_.max_staleness - 1));
    RETURN_IF_ERROR(rep->push_deferred ? PushAndPrefetch(rep) : TakeAndPrefetch(rep));
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

Status TrainerImpl::PushAndPrefetch(Replica* rep) {
  ASSIGN_OR_RETURN(rep->has_next, train_stream_->Next(&rep->next_batch));
  if (!rep->has_next) return SendDeferredPush(rep, rep->pushed_batch);
  const Batch& pushed = rep->pushed_batch;
  const Batch& next = rep->next_batch;
  const size_t k = static_cast<size_t>(next.num_unique_keys());
  rep->next_rows.resize(k * options_.model.embedding_dim);
  rep->next_counts.resize(k);
  const PushArgs push{pushed.unique_keys.data(), static_cast<size_t>(pushed.num_unique_keys()),
                      rep->row_grads.data(), pushed.key_counts.data(), rep->deferred_step};
  const PullArgs pull{next.unique_keys.data(), k, /*create_missing=*/true, rep->next_rows.data(),
                      rep->next_counts.data()};
  const PushPullTickets tickets = store_->PushThenPull(push, pull);
  rep->push_deferred = false;
  rep->pushes.push_back(tickets.push);
  rep->next_pull = tickets.pull;
  return Status::OK();
}

Status TrainerImpl::SendDeferredPush(Replica* rep, const Batch& pushed) {
  rep->push_deferred = false;
  rep->pushes.push_back(store_->Push(pushed.unique_keys.data(), pushed.num_unique_keys(),
                                     rep->row_grads.data(), pushed.key_counts.data(),
                                     rep->deferred_step));
  return DrainPushes(rep, static_cast<size_t>(options_.max_staleness));
}

Status TrainerImpl::SettlePushes(Replica* rep) {
  // Outside FillTrainReplicas a deferred push's batch is still `batch`.
  if (rep->push_deferred) RETURN_IF_ERROR(SendDeferredPush(rep, rep->batch));
  return DrainPushes(rep, 0);
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
