// Trainer: single-process training of Base/DIN/DIEN against an in-process
// SparseTable (the same table a parameter-server shard serves).
//
// Threads are data-parallel replicas: each step, every replica takes its own
// batch, pulls its rows, runs forward/backward and pushes its row gradients
// to the table (sparse updates are applied as they arrive, as a server
// would); the replicas' dense gradients are then averaged and one dense
// optimiser step is taken — exactly what W MPI workers do with an
// all-reduce. With one thread and a fixed seed, runs are reproducible.
#ifndef DIPS_WORKER_TRAIN_TRAINER_H_
#define DIPS_WORKER_TRAIN_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/rocksdb_tier.h"
#include "ps/sparse_table.h"
#include "ps/table_maintenance.h"
#include "worker/data/log_reader.h"
#include "worker/model/model.h"
#include "worker/model/model_device.h"
#include "worker/dist/dense_sync.h"
#include "worker/train/checkpointer.h"
#include "worker/train/dense_optimizer.h"
#include "worker/train/embedding_store.h"
#include "worker/train/metrics.h"

namespace dips {

DenseOptimizerOptions DefaultDenseOptimizer();
SparseTableOptions DefaultTable();
// The mini-batch-aware L2 strength a model trains with unless told: 0.05
// for Base and DIN, 0.15 for DIEN. Chosen on MovieLens over eight seeds
// (docs/results.md, "Mini-batch-aware regularisation per model"): DIEN
// gains from the stronger penalty on rare rows, DIN loses a little.
float DefaultMbaLambda(ModelKind kind);

struct TrainerOptions {
  // Model; num_behaviour_fields and num_extra_fields are taken from the
  // training data's schema.
  ModelConfig model;
  // Where the replicas' forward and backward passes run (each replica owns
  // one model; with kCuda they share GPU 0). Rows, dense parameters, the
  // regulariser and the optimisers stay on the host either way.
  ModelDevice device = ModelDevice::kCpu;
  std::vector<std::string> train_files;
  std::vector<std::string> test_files;  // may be empty: no evaluation
  ReaderOptions reader;
  int epochs = 1;
  int batch_size = 128;
  int threads = 1;                 // data-parallel replicas
  // Training samples are drawn through a shuffle buffer of this many
  // samples (see BatchStreamOptions); 0 keeps the file order.
  int shuffle_buffer = 100000;
  uint64_t seed = 1;               // dense init, negative sampling
  // Defaults tuned on MovieLens (docs/results.md): dense Adam 0.002, lazy
  // Adam 0.003 for embedding rows initialised in [-0.01, 0.01].
  DenseOptimizerOptions dense_optimizer = DefaultDenseOptimizer();
  SparseTableOptions table = DefaultTable();
  // Where the rows live (single process: the trainer's own table;
  // distributed: each server's, see dist_train_main.cc). A budget > 0 keeps
  // at most that many bytes of rows in memory and the rest in RocksDB under
  // table_rocksdb.dir (docs/tables.md); 0 keeps every row in memory.
  uint64_t table_memory_budget_bytes = 0;
  RocksTierOptions table_rocksdb;
  // Periodic stats line and shrink pass (TTL / min count) over the table.
  TableMaintenanceOptions table_maintenance;
  // Mini-batch-aware L2 (DIN paper 5.1); negative: DefaultMbaLambda of
  // the model's kind.
  float mba_lambda = -1.0f;
  int64_t eval_every_steps = 0;    // 0: evaluate after each epoch only
  int64_t max_steps = 0;           // 0: no limit (benchmarks set one)
  std::string metrics_out;         // append one JSON line per evaluation
  // Checkpoints and resume (docs/checkpoints.md); off unless checkpoint.dir
  // is set. A checkpoint is also written when training ends.
  CheckpointOptions checkpoint;

  // Distributed training (dips dist-train); null/defaults = single process.
  // Not owned; they must outlive the trainer.
  // Rows live here instead of in a table the trainer creates itself.
  EmbeddingStore* store = nullptr;
  // Averages dense gradients (and Dice statistics) across worker ranks each
  // step and broadcasts the first worker's initial dense parameters. Every
  // worker must run the same number of steps per epoch: a worker whose
  // data part is exhausted keeps joining the average with zero weight until
  // all are done.
  DenseSync* dense_sync = nullptr;
  // Row pushes a worker may have in flight unacknowledged before its next
  // step waits for the oldest (0 = every push is acknowledged before the
  // next step: synchronous sparse updates).
  int max_staleness = 0;
  // With max_staleness >= 1: pull each batch's rows while the step before
  // it computes, so the pull's latency hides behind compute. The rows then
  // lack at most max_staleness of this worker's own pushes, as without it.
  bool prefetch_rows = true;
  // With prefetch_rows, and a store where it saves round trips (the
  // parameter servers): a step's push waits for the next prefetch and
  // travels with it (EmbeddingStore::PushThenPull), so the worker need
  // not wait for the push's answer before pulling. The rows seen are the
  // same as without it.
  bool push_with_pull = true;
  // With max_staleness >= 1 in a distributed job: average each step's dense
  // gradients across workers on a background thread while the next step
  // computes (BackgroundAverage), so a worker waits for a slower one only
  // when it falls a whole step behind. The average then reaches the
  // parameters one step late: dense staleness 1. Time-based checkpoints
  // (checkpoint.every_seconds) need a collective each step and wait for
  // the average first.
  bool overlap_dense_sync = true;
  // Only one worker of a job writes metrics_out and the final log lines.
  bool is_chief = true;
  double log_every_seconds = 10.0;
  bool progress_line = false;      // \r progress line (for a TTY)
  int64_t samples_per_epoch_hint = 0;  // for the ETA before epoch 1 ends; 0 = unknown
};

struct TrainReport {
  int64_t steps = 0;
  int64_t samples = 0;
  // Wall time of the training steps, including the waits for their batches,
  // rows and push acknowledgements; evaluations and checkpoints excluded.
  double train_seconds = 0.0;
  // The part of train_seconds spent handing the replicas their batches:
  // waiting for the batch stream and, with a parameter server, for
  // prefetched rows and for the pushes the staleness bound says must be
  // acknowledged first, and sending the next batch's pulls.
  double feed_seconds = 0.0;
  // The part of feed_seconds spent on each pass's first step: the wait while
  // the shuffle buffer fills (shuffle_buffer samples read and parsed before
  // the first batch exists), once per pass however long the pass is.
  double pass_start_seconds = 0.0;
  double samples_per_second = 0.0;     // this worker's (this process's) rate
  // samples / (train_seconds - pass_start_seconds): the rate once a pass
  // is under way, which a long pass approaches; benchmarks of a few
  // thousand steps report it next to samples_per_second.
  double steady_samples_per_second = 0.0;
  // Whole job: the sum of every worker's rate (= samples_per_second when
  // not distributed).
  double job_samples_per_second = 0.0;
  double final_train_loss = 0.0;       // mean over the last epoch
  EvalMetrics final_metrics;           // last evaluation (if any)
  double flops_per_sample = 0.0;       // matrix FLOPs of forward+backward
};

class Trainer {
 public:
  static StatusOr<std::unique_ptr<Trainer>> Create(const TrainerOptions& options);
  virtual ~Trainer() = default;

  // Runs all epochs, with the configured evaluations.
  virtual StatusOr<TrainReport> Train() = 0;
  // One pass over the test files with the current parameters.
  virtual StatusOr<EvalMetrics> Evaluate() = 0;
  // The same, also returning every test sample's click probability in file
  // order (what a serving predictor must reproduce).
  virtual StatusOr<EvalMetrics> EvaluateWithScores(std::vector<float>* probs) = 0;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_TRAINER_H_
