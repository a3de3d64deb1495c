// Checkpointer: writes and reads the trainer's side of a checkpoint
// (docs/checkpoints.md) — the rows through the EmbeddingStore (each server
// shard writes its own file), the replicated dense state once, each
// worker's reader position, and the manifest last.
//
// Distributed, Save is collective over the workers: all call it at the same
// step after waiting for their pushes; the chief (worker 0) asks the
// servers for their rows and writes the dense state and the manifest,
// every worker writes its own position file, and barriers order the
// steps so the manifest is written only once every file is on disk.
//
// Not thread-safe: called from the trainer's main thread.
#ifndef DIPS_WORKER_TRAIN_CHECKPOINTER_H_
#define DIPS_WORKER_TRAIN_CHECKPOINTER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/checkpoint.pb.h"
#include "ps/checkpoint/checkpoint.h"
#include "worker/dist/dense_sync.h"
#include "worker/train/dense_optimizer.h"
#include "worker/train/embedding_store.h"

namespace dips {

struct CheckpointOptions {
  // Root directory of the job's checkpoints; empty: no checkpoints. In a
  // distributed job it must be one shared path that every rank sees.
  std::string dir;
  int64_t every_steps = 0;  // also every this many steps; 0: only at the end
  // Also once this many seconds have passed since the previous checkpoint
  // (or since the Checkpointer was made); 0: no time rule. Distributed, the
  // workers decide together (DueAt), so all checkpoint at the same step.
  double every_seconds = 0;
  int keep = 3;             // complete checkpoints kept (plus their chains)
  // Every full_every-th checkpoint is full, the others incremental (only
  // rows updated since the previous one). 1: always full.
  int full_every = 4;
  // Restore the newest intact checkpoint under dir before training.
  bool resume = false;
  // Distributed: the checkpoint to resume from, chosen (and verified) by
  // one rank for all; empty: search dir.
  std::string resume_name;
  // How long workers wait for the chief while it writes a checkpoint.
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

// The manifest's description of the job (everything but step and files).
struct CheckpointJobInfo {
  ckpt::ModelSpec model;
  uint32_t dim = 0;
  SparseOptimizerKind sparse_optimizer = SparseOptimizerKind::kAdam;
  float init_scale = 0.0f;
  uint64_t init_seed = 0;
};

// What a worker needs to continue from a checkpoint.
struct RestoredTraining {
  CheckpointChain chain;
  ckpt::DenseState dense;
  ckpt::WorkerState worker;
};

// The replicated dense state as a checkpoint stores it, and back.
// Unpack: InvalidArgument (naming what differs) unless the state fits this
// model's parameter count and dense optimiser.
ckpt::DenseState PackDenseState(const std::vector<float>& params, DenseOptimizerKind kind,
                                const DenseOptimizer& optimizer,
                                const std::vector<float>& dice_state);
Status UnpackDenseState(const ckpt::DenseState& dense, DenseOptimizerKind kind,
                        std::vector<float>* params, DenseOptimizer* optimizer);

class Checkpointer {
 public:
  // `store` (may be null until set_store) and `dense_sync` (null: single
  // process) are borrowed.
  Checkpointer(const CheckpointOptions& options, const CheckpointJobInfo& job,
               EmbeddingStore* store, DenseSync* dense_sync);

  bool enabled() const { return !options_.dir.empty(); }
  // The store Save writes through, when it is created only after Restore
  // chose the checkpoint to open it from (a single-process trainer's table).
  void set_store(EmbeddingStore* store) { store_ = store; }
  // Whether to checkpoint after `step` steps: when step is a multiple of
  // every_steps, or every_seconds have passed since the last checkpoint on
  // this worker's clock or on any other worker's. Distributed with
  // every_seconds > 0 this is a collective over the workers
  // (DenseSync::AnyWorker), so every worker must call it at every step and
  // all get the same answer; otherwise it is local. Errors only from the
  // collective.
  StatusOr<bool> DueAt(int64_t step);

  // Writes checkpoint CheckpointName(step). `dense` is the replicated
  // state (only the chief's copy is written) and `worker` this worker's
  // progress; their dice_state fields are averaged over workers here.
  Status Save(int64_t step, ckpt::DenseState dense, ckpt::WorkerState worker);

  // The checkpoint to resume from: nullopt when resuming was not asked for
  // or none exists yet (a fresh start, logged); an error when one exists
  // but cannot be used (e.g. a different worker count). Rows are not
  // touched: servers load their own (or the caller calls RestoreRows).
  StatusOr<std::optional<RestoredTraining>> Restore();

 private:
  bool is_chief() const { return dense_sync_ == nullptr || dense_sync_->worker_index() == 0; }
  uint32_t worker_index() const { return dense_sync_ ? dense_sync_->worker_index() : 0; }
  uint32_t num_workers() const { return dense_sync_ ? dense_sync_->num_workers() : 1; }
  Status Barrier(const char* what);
  // The row files' since_step: -1 (every pushed row) for a full checkpoint.
  int64_t SinceStep(bool full) const;
  // Chief: builds and commits the manifest, then prunes old checkpoints.
  Status Commit(int64_t step, const std::string& name, bool full,
                const std::vector<ShardCheckpoint>& rows);

  const CheckpointOptions options_;
  const CheckpointJobInfo job_;
  EmbeddingStore* store_;
  DenseSync* const dense_sync_;
  // The previous checkpoint of this run (or the one resumed from): the
  // base of the next incremental one.
  std::string last_name_;
  int64_t last_step_ = -1;
  int saved_since_full_ = 0;
  // When this worker last wrote (or started without) a checkpoint: the
  // every_seconds clock.
  std::chrono::steady_clock::time_point last_save_time_;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_CHECKPOINTER_H_
