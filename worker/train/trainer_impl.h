// TrainerImpl: the Trainer (trainer.h). Internal to worker/train; its
// methods are split by concern: the training loop (trainer.cc), evaluation
// and progress (trainer_eval.cc), checkpoints (trainer_checkpoint.cc) and
// feeding batches and rows to the replicas (trainer_feed.cc).
#ifndef DIPS_WORKER_TRAIN_TRAINER_IMPL_H_
#define DIPS_WORKER_TRAIN_TRAINER_IMPL_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "ps/table_maintenance.h"
#include "worker/dist/background_average.h"
#include "worker/train/batch_stream.h"
#include "worker/train/checkpointer.h"
#include "worker/train/metrics_log.h"
#include "worker/train/trainer.h"

namespace dips {
namespace train_internal {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One data-parallel replica: a model (saved activations) and the buffers of
// one batch. Owned by exactly one thread during a step.
struct Replica {
  std::unique_ptr<Model<float>> model;
  Batch batch;
  std::vector<float> rows;         // [K x dim] pulled rows
  std::vector<uint64_t> counts;    // [K] occurrences so far
  std::vector<float> row_grads;    // [K x dim]
  std::vector<float> param_grads;  // [num_params]
  std::vector<float> state;        // Dice moving statistics
  std::vector<float> probs;        // [B]
  std::deque<uint64_t> pushes;     // tickets of unacknowledged row pushes
  double loss = 0.0;
  Status status;
  bool has_batch = false;
  // Row prefetching (TrainerOptions::prefetch_rows): the batch after
  // `batch`, its rows arriving in next_rows/next_counts under ticket
  // next_pull (0: none in flight).
  Batch next_batch;
  std::vector<float> next_rows;
  std::vector<uint64_t> next_counts;
  uint64_t next_pull = 0;
  bool has_next = false;
  bool rows_ready = false;  // rows/counts already hold `batch`'s rows
  // A push held back to go with the next prefetch (push_with_pull_): of
  // `batch`'s keys and row_grads until FillTrainReplicas moves that batch
  // into pushed_batch, stamped with deferred_step.
  bool push_deferred = false;
  int64_t deferred_step = 0;
  Batch pushed_batch;
};

class TrainerImpl : public Trainer {
 public:
  explicit TrainerImpl(const TrainerOptions& options)
      : options_(options), samples_per_epoch_(options.samples_per_epoch_hint) {}

  Status Init();

  StatusOr<TrainReport> Train() override;

  StatusOr<EvalMetrics> Evaluate() override { return EvaluateWithScores(nullptr); }

  StatusOr<EvalMetrics> EvaluateWithScores(std::vector<float>* probs) override;

 private:
  // Sets up checkpoints and, when resuming, restores the dense state, the
  // reader position and (single process, through OpenTable) the rows.
  Status InitCheckpoints();

  // Single process: opens the trainer's own table, from `chain` when
  // resuming (ps/checkpoint/shard_restore.h), else empty.
  Status OpenTable(const CheckpointChain* chain);
  // Skips the batches a resumed run's checkpoint had already trained on in
  // this pass: the pass repeats the same order (same shuffle seed), so what
  // follows is exactly what the interrupted run would have seen next.
  Status SkipResumedBatches();

  // Writes a checkpoint of the current step; the reader position is
  // `batches` batches into pass `epoch`.
  Status SaveCheckpoint(int epoch, int64_t batches, const TrainReport& report);

  // Hands the next batches of `stream` to the replicas; returns how many got one.
  StatusOr<int> FillReplicas(BatchStream* stream);

  // FillReplicas for training. With prefetching, each replica's batch comes
  // with its rows already pulled (during the previous step's compute), and
  // the batch after it is taken from the stream (same round-robin order as
  // without prefetching) and its pull sent before this step computes.
  StatusOr<int> FillTrainReplicas();

  Status TakeAndPrefetch(Replica* rep);
  // TakeAndPrefetch with the deferred push of pushed_batch sent ahead of
  // the pull in one PushThenPull.
  Status PushAndPrefetch(Replica* rep);
  // Sends a deferred push of `pushed` (its keys, row_grads) alone.
  Status SendDeferredPush(Replica* rep, const Batch& pushed);
  // Every push of `rep` sent (a deferred one too) and acknowledged.
  Status SettlePushes(Replica* rep);

  Status WaitPrefetch(Replica* rep);

  Status PullRows(Replica* rep, bool create_missing);

  // Waits for the oldest pushes until at most `keep` are unacknowledged.
  Status DrainPushes(Replica* rep, size_t keep);

  // Forward/backward of every replica that has a batch, sparse pushes, then
  // one dense step on the dense gradients averaged over replicas (and, in a
  // distributed job, over the workers that had a batch). Returns false when
  // no replica of any worker had a batch: the pass is over.
  StatusOr<bool> TrainStep(int replicas);
  // With overlap_dense_sync: waits for the dense average in flight, if any,
  // and applies it (one dense step). Called before anything that reads the
  // parameters as a whole or makes an MPI call of its own.
  Status FinishDenseAverage();
  // Whether each step's dense average runs on background_average_ (a
  // distributed job with overlap_dense_sync at max_staleness >= 1).
  bool OverlapsDenseAverage() const {
    return options_.dense_sync != nullptr && options_.max_staleness >= 1 &&
           options_.overlap_dense_sync;
  }
  // Divides the workers' averaged gradients in sync_buffer_ by their summed
  // weight (into dense_grads_) and takes the dense step; false, and no
  // step, when no worker stepped.
  bool StepOnAverage();
  // Steps whose dense gradients are applied or being averaged: the step
  // number of the next step (and of its pushes).
  int64_t StepsTaken() const {
    return dense_optimizer_->steps() +
           (background_average_ != nullptr && background_average_->pending() ? 1 : 0);
  }

  Status ReplicaStep(Replica* rep, int64_t step);

  // Evaluation uses the mean of the replicas' Dice moving statistics.
  void AverageStates();

  Status EvaluateAndLog(MetricsLog* log, const TrainReport& report, int epoch);

  void LogProgress(int epoch, int64_t samples, int64_t total_samples, double mean_loss,
                   double seconds, bool to_log);

  TrainerOptions options_;
  LogSchema schema_;
  std::unique_ptr<BatchStream> train_stream_;
  std::unique_ptr<BatchStream> test_stream_;
  std::unique_ptr<SparseTable> table_;             // single process only
  std::unique_ptr<TableMaintenance> maintenance_;  // over table_; stops before it
  std::unique_ptr<EmbeddingStore> owned_store_;    // over table_
  EmbeddingStore* store_ = nullptr;                // owned_store_ or options_.store
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<float> params_;
  std::vector<float> dense_grads_;  // the step's mean (single process) or averaged gradients
  std::vector<float> sync_buffer_;  // dense gradients + this worker's weight
  std::vector<float> eval_state_;
  std::unique_ptr<DenseOptimizer> dense_optimizer_;
  // Set when dense averages overlap the next step (overlap_dense_sync);
  // averages sync_buffer_ in the background.
  std::unique_ptr<BackgroundAverage> background_average_;
  EvalMetrics last_metrics_;
  int64_t samples_per_epoch_ = 0;
  std::unique_ptr<Checkpointer> checkpointer_;
  // Resume position: the pass to start in and the batches of it to skip.
  int start_epoch_ = 0;
  int64_t skip_batches_ = 0;
  int64_t batches_in_epoch_ = 0;  // taken from the stream in this pass
  int64_t last_checkpoint_step_ = -1;
  bool evaluated_ = false;  // Train has evaluated at least once
  bool prefetch_ = false;   // options_.prefetch_rows && max_staleness >= 1
  // prefetch_, options_.push_with_pull and a store that gains by it.
  bool push_with_pull_ = false;
  bool prefetch_primed_ = false;  // this pass's first batches were taken
};

}  // namespace train_internal
}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_TRAINER_IMPL_H_
