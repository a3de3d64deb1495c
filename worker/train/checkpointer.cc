#include "worker/train/checkpointer.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "ps/checkpoint/file_io.h"

namespace dips {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AddEntry(const std::string& name, const FileDigest& digest, uint64_t rows,
              ckpt::Manifest* manifest) {
  SetFileEntry(name, digest, rows, manifest->add_files());
}

}  // namespace

ckpt::DenseState PackDenseState(const std::vector<float>& params, DenseOptimizerKind kind,
                                const DenseOptimizer& optimizer,
                                const std::vector<float>& dice_state) {
  ckpt::DenseState dense;
  dense.mutable_params()->Add(params.begin(), params.end());
  dense.set_dense_optimizer(DenseOptimizerName(kind));
  dense.set_optimizer_steps(optimizer.steps());
  dense.mutable_first_moment()->Add(optimizer.first_moment().begin(),
                                    optimizer.first_moment().end());
  dense.mutable_second_moment()->Add(optimizer.second_moment().begin(),
                                     optimizer.second_moment().end());
  dense.mutable_dice_state()->Add(dice_state.begin(), dice_state.end());
  return dense;
}

Status UnpackDenseState(const ckpt::DenseState& dense, DenseOptimizerKind kind,
                        std::vector<float>* params, DenseOptimizer* optimizer) {
  if (static_cast<size_t>(dense.params_size()) != params->size()) {
    return InvalidArgumentError("checkpoint holds " + std::to_string(dense.params_size()) +
                                " dense parameters; this model has " +
                                std::to_string(params->size()));
  }
  if (dense.dense_optimizer() != DenseOptimizerName(kind)) {
    return InvalidArgumentError("checkpoint was trained with dense optimiser " +
                                dense.dense_optimizer() + ", this job uses " +
                                DenseOptimizerName(kind));
  }
  RETURN_IF_ERROR(optimizer->Restore(
      dense.optimizer_steps(),
      std::vector<float>(dense.first_moment().begin(), dense.first_moment().end()),
      std::vector<float>(dense.second_moment().begin(), dense.second_moment().end())));
  std::copy(dense.params().begin(), dense.params().end(), params->begin());
  return Status::OK();
}

Checkpointer::Checkpointer(const CheckpointOptions& options, const CheckpointJobInfo& job,
                           EmbeddingStore* store, DenseSync* dense_sync)
    : options_(options), job_(job), store_(store), dense_sync_(dense_sync),
      last_save_time_(std::chrono::steady_clock::now()) {}

StatusOr<bool> Checkpointer::DueAt(int64_t step) {
  if (!enabled() || step <= 0) return false;
  // The step rule gives the same answer on every worker (they step in
  // lockstep), so it needs no collective, and skipping it on such a step
  // keeps the workers' sequences of collectives equal.
  if (options_.every_steps > 0 && step % options_.every_steps == 0) return true;
  if (options_.every_seconds <= 0) return false;
  const bool mine = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                  last_save_time_)
                        .count() >= options_.every_seconds;
  // Clocks differ between workers: any worker's deadline makes it due for
  // all, so no worker waits much longer than every_seconds.
  if (dense_sync_ == nullptr) return mine;
  return dense_sync_->AnyWorker(mine, "checkpoint due by time");
}

int64_t Checkpointer::SinceStep(bool full) const {
  // Checkpoint S holds every push of steps 0..S-1, which the trainer stamps
  // with the step count before the step (0..S-1). An incremental checkpoint
  // over base S therefore needs the rows stamped S or later.
  return full ? -1 : last_step_ - 1;
}

Status Checkpointer::Barrier(const char* what) {
  if (dense_sync_ == nullptr) return Status::OK();
  return dense_sync_->Barrier(what, options_.timeout);
}

Status Checkpointer::Save(int64_t step, ckpt::DenseState dense, ckpt::WorkerState worker) {
  if (!enabled()) return FailedPreconditionError("checkpoints are not enabled");
  const auto start = std::chrono::steady_clock::now();
  const std::string name = CheckpointName(step);
  const std::string dir = JoinPath(options_.dir, name);
  bool full = last_name_.empty() || options_.full_every <= 1 ||
              saved_since_full_ + 1 >= options_.full_every;
  RETURN_IF_ERROR(MakeDirs(dir));
  // Every worker has waited for its pushes: once all are here, the servers'
  // rows are exactly those of step `step`.
  RETURN_IF_ERROR(Barrier("checkpoint: pushes drained"));
  std::vector<ShardCheckpoint> rows;
  if (is_chief()) {
    ASSIGN_OR_RETURN(rows, store_->SaveRows(options_.dir, name, SinceStep(full)));
    // Shards with a disk tier write every row whatever was asked: when all
    // did, the checkpoint needs no base and is full.
    full = full || std::all_of(rows.begin(), rows.end(),
                               [](const ShardCheckpoint& s) { return s.self_contained(); });
  }
  if (dense_sync_ != nullptr) {
    // Evaluation and serving use the workers' mean Dice statistics.
    RETURN_IF_ERROR(dense_sync_->Average(dense.mutable_dice_state()->mutable_data(),
                                         dense.dice_state_size(), "checkpoint Dice statistics"));
  }
  worker.set_worker_index(worker_index());
  worker.set_num_workers(num_workers());
  RETURN_IF_ERROR(WriteProtoFile(JoinPath(dir, WorkerFileName(worker_index())), worker).status());
  RETURN_IF_ERROR(Barrier("checkpoint: files written"));
  if (is_chief()) {
    RETURN_IF_ERROR(WriteProtoFile(JoinPath(dir, kDenseFileName), dense).status());
    RETURN_IF_ERROR(Commit(step, name, full, rows));
    LOG(INFO) << "checkpoint " << dir << " (" << (full ? "full" : "incremental over " + last_name_)
              << ") written in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
              << " s";
  }
  saved_since_full_ = full ? 0 : saved_since_full_ + 1;
  last_name_ = name;
  last_step_ = step;
  last_save_time_ = std::chrono::steady_clock::now();
  return Status::OK();
}

Status Checkpointer::Commit(int64_t step, const std::string& name, bool full,
                            const std::vector<ShardCheckpoint>& rows) {
  const std::string dir = JoinPath(options_.dir, name);
  ckpt::Manifest manifest;
  manifest.set_format_version(kCheckpointFormatVersion);
  manifest.set_step(step);
  manifest.set_incremental(!full);
  if (!full) manifest.set_base(last_name_);
  manifest.set_since_step(SinceStep(full));
  manifest.set_num_shards(static_cast<uint32_t>(rows.size()));
  manifest.set_num_workers(num_workers());
  manifest.set_dim(job_.dim);
  manifest.set_sparse_optimizer(SparseOptimizerName(job_.sparse_optimizer));
  manifest.set_state_floats_per_weight(StateFloatsPerWeight(job_.sparse_optimizer));
  *manifest.mutable_model() = job_.model;
  manifest.set_created_unix_ms(NowUnixMs());
  manifest.set_init_scale(job_.init_scale);
  manifest.set_init_seed(job_.init_seed);
  for (const ShardCheckpoint& shard : rows) AddShardToManifest(shard, &manifest);
  // The other files are digested here, after the barrier, from what is on
  // disk: that is what a restore will check.
  std::vector<std::string> names = {kDenseFileName};
  for (uint32_t w = 0; w < num_workers(); ++w) names.push_back(WorkerFileName(w));
  for (const std::string& file : names) {
    ASSIGN_OR_RETURN(FileDigest digest, DigestFile(JoinPath(dir, file)));
    AddEntry(file, digest, 0, &manifest);
  }
  RETURN_IF_ERROR(CommitManifest(options_.dir, name, manifest));
  return PruneCheckpoints(options_.dir, options_.keep);
}

StatusOr<std::optional<RestoredTraining>> Checkpointer::Restore() {
  if (!enabled() || !options_.resume) return std::optional<RestoredTraining>();
  RestoredTraining restored;
  if (!options_.resume_name.empty()) {
    ASSIGN_OR_RETURN(restored.chain, ReadCheckpointChain(options_.dir, options_.resume_name));
  } else {
    StatusOr<CheckpointChain> chain = FindLatestCheckpoint(options_.dir);
    if (chain.status().code() == StatusCode::kNotFound) {
      LOG(INFO) << "resume: no checkpoint under " << options_.dir << " yet; starting fresh";
      return std::optional<RestoredTraining>();
    }
    RETURN_IF_ERROR(chain.status());
    restored.chain = std::move(chain).value();
  }
  const ckpt::Manifest& manifest = restored.chain.newest();
  const std::string dir = restored.chain.newest_dir();
  if (manifest.num_workers() != num_workers()) {
    return InvalidArgumentError(
        "checkpoint " + dir + " was written by " + std::to_string(manifest.num_workers()) +
        " workers; this job has " + std::to_string(num_workers()) +
        ": the data readers' positions cannot be carried over (servers may change, workers "
        "may not)");
  }
  if (manifest.dim() != job_.dim ||
      manifest.sparse_optimizer() != SparseOptimizerName(job_.sparse_optimizer)) {
    return InvalidArgumentError("checkpoint " + dir + " holds rows of dim " +
                                std::to_string(manifest.dim()) + " for optimiser " +
                                manifest.sparse_optimizer() + "; this job trains dim " +
                                std::to_string(job_.dim) + " with " +
                                SparseOptimizerName(job_.sparse_optimizer));
  }
  if (manifest.model().SerializeAsString() != job_.model.SerializeAsString()) {
    return InvalidArgumentError("checkpoint " + dir +
                                " was written for a different model configuration or input "
                                "schema than this job's");
  }
  // Each file is checked against the manifest before it is parsed.
  for (const ckpt::FileEntry& entry : manifest.files()) {
    if (entry.name() == kDenseFileName || entry.name() == WorkerFileName(worker_index())) {
      RETURN_IF_ERROR(VerifyFileDigest(JoinPath(dir, entry.name()), EntryDigest(entry)));
    }
  }
  RETURN_IF_ERROR(ReadProtoFile(JoinPath(dir, kDenseFileName), &restored.dense));
  RETURN_IF_ERROR(ReadProtoFile(JoinPath(dir, WorkerFileName(worker_index())), &restored.worker));
  last_name_ = restored.chain.names.back();
  last_step_ = manifest.step();
  saved_since_full_ = static_cast<int>(restored.chain.names.size()) - 1;
  LOG(INFO) << "resuming from " << dir << " (step " << manifest.step() << ", epoch "
            << restored.worker.epoch() + 1 << ", " << restored.worker.batches_in_epoch()
            << " batches into it)";
  return std::optional<RestoredTraining>(std::move(restored));
}

}  // namespace dips
