// TrainerImpl: writing checkpoints and resuming from one (docs/checkpoints.md).
#include "worker/train/trainer_impl.h"

#include <optional>
#include <utility>

#include "ps/checkpoint/shard_restore.h"
#include "worker/model/model_spec.h"

namespace dips {
namespace train_internal {

Status TrainerImpl::InitCheckpoints() {
  CheckpointJobInfo job;
  job.model = ToModelSpec(options_.model, schema_, options_.reader.max_history);
  job.dim = static_cast<uint32_t>(options_.model.embedding_dim);
  job.sparse_optimizer = options_.table.optimizer.kind;
  job.init_scale = options_.table.init_scale;
  job.init_seed = options_.table.init_seed;
  checkpointer_ = std::make_unique<Checkpointer>(options_.checkpoint, job, store_,
                                                 options_.dense_sync);
  ASSIGN_OR_RETURN(std::optional<RestoredTraining> restored, checkpointer_->Restore());
  if (store_ == nullptr) {
    RETURN_IF_ERROR(OpenTable(restored.has_value() ? &restored->chain : nullptr));
    checkpointer_->set_store(store_);
  }
  if (!restored.has_value()) return Status::OK();
  const ckpt::DenseState& dense = restored->dense;
  const ckpt::WorkerState& worker = restored->worker;
  if (static_cast<size_t>(worker.dice_state_size()) != eval_state_.size()) {
    return InvalidArgumentError("checkpoint " + restored->chain.newest_dir() +
                                " holds Dice statistics of another size than this model's");
  }
  RETURN_IF_ERROR(UnpackDenseState(dense, options_.dense_optimizer.kind, &params_,
                                   dense_optimizer_.get()));
  for (auto& rep : replicas_) {
    std::copy(worker.dice_state().begin(), worker.dice_state().end(), rep->state.begin());
  }
  start_epoch_ = worker.epoch();
  skip_batches_ = worker.batches_in_epoch();
  last_checkpoint_step_ = dense.optimizer_steps();
  return Status::OK();
}

Status TrainerImpl::OpenTable(const CheckpointChain* chain) {
  ShardTableOptions table_options;
  table_options.table = options_.table;
  table_options.memory_budget_bytes = options_.table_memory_budget_bytes;
  table_options.rocksdb = options_.table_rocksdb;
  ShardRestoreOptions restore;
  restore.chain = chain;  // verified by Checkpointer::Restore
  restore.optimizer = options_.table.optimizer.kind;
  ASSIGN_OR_RETURN(RestoredShard restored, OpenRestoredShard(table_options, restore));
  table_ = std::move(restored.table);
  if (chain != nullptr) {
    LOG(INFO) << "restored " << restored.rows << " rows from " << chain->newest_dir()
              << (restored.opened_rocksdb ? " by opening its RocksDB checkpoint"
                                          : " by importing them")
              << " in " << restored.seconds << " s";
  }
  maintenance_ = std::make_unique<TableMaintenance>(table_.get(), options_.table_maintenance);
  owned_store_ = NewTableStore(table_.get(), options_.table.optimizer.kind);
  store_ = owned_store_.get();
  return Status::OK();
}

Status TrainerImpl::SkipResumedBatches() {
  for (int64_t i = 0; i < skip_batches_; ++i) {
    ASSIGN_OR_RETURN(bool more, train_stream_->Next(&replicas_[0]->batch));
    if (!more) break;
    ++batches_in_epoch_;
  }
  skip_batches_ = 0;
  return Status::OK();
}

Status TrainerImpl::SaveCheckpoint(int epoch, int64_t batches, const TrainReport& report) {
  for (auto& rep : replicas_) RETURN_IF_ERROR(SettlePushes(rep.get()));
  RETURN_IF_ERROR(FinishDenseAverage());
  AverageStates();
  ckpt::DenseState dense = PackDenseState(params_, options_.dense_optimizer.kind,
                                          *dense_optimizer_, eval_state_);
  ckpt::WorkerState worker;
  worker.set_epoch(epoch);
  worker.set_batches_in_epoch(batches);
  worker.set_samples(report.samples);
  worker.set_train_seconds(report.train_seconds);
  worker.mutable_dice_state()->Add(eval_state_.begin(), eval_state_.end());
  RETURN_IF_ERROR(checkpointer_->Save(dense_optimizer_->steps(), std::move(dense),
                                      std::move(worker)));
  last_checkpoint_step_ = dense_optimizer_->steps();
  return Status::OK();
}

}  // namespace train_internal
}  // namespace dips
