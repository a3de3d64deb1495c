#include "worker/train/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <utility>

#include "ps/table_factory.h"
#include "worker/model/model_spec.h"
#include "worker/train/batch_stream.h"
#include "worker/train/metrics_log.h"

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
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
};

class TrainerImpl : public Trainer {
 public:
  explicit TrainerImpl(const TrainerOptions& options)
      : options_(options), samples_per_epoch_(options.samples_per_epoch_hint) {}

  Status Init() {
    if (options_.train_files.empty()) return InvalidArgumentError("no training files given");
    if (options_.batch_size <= 0) return InvalidArgumentError("batch_size must be positive");
    if (options_.threads <= 0) return InvalidArgumentError("threads must be positive");
    // The replicas are the parallelism; BLAS runs in the calling thread.
    openblas_set_num_threads(1);

    ASSIGN_OR_RETURN(std::unique_ptr<LogReader> train_reader,
                     LogReader::Open(options_.train_files, options_.reader));
    schema_ = train_reader->schema();
    options_.model.num_behaviour_fields = schema_.num_behaviour_fields();
    options_.model.num_extra_fields = schema_.num_extra_fields();
    options_.table.dim = options_.model.embedding_dim;

    BatchStreamOptions stream_options;
    stream_options.batch_size = options_.batch_size;
    stream_options.builder.with_negatives = options_.model.kind == ModelKind::kDien &&
                                            options_.model.aux_loss_weight > 0.0f;
    stream_options.builder.seed = options_.seed;
    stream_options.shuffle_buffer = options_.shuffle_buffer;
    stream_options.shuffle_seed = options_.seed;
    train_stream_ = std::make_unique<BatchStream>(std::move(train_reader), stream_options);

    if (!options_.test_files.empty()) {
      ReaderOptions test_reader_options = options_.reader;
      test_reader_options.part_index = 0;
      test_reader_options.num_parts = 1;
      ASSIGN_OR_RETURN(std::unique_ptr<LogReader> test_reader,
                       LogReader::Open(options_.test_files, test_reader_options));
      if (test_reader->schema() != schema_) {
        return InvalidArgumentError("test files have a different schema than the training files");
      }
      BatchStreamOptions test_options = stream_options;
      test_options.builder.with_negatives = false;
      test_options.shuffle_buffer = 0;
      test_stream_ = std::make_unique<BatchStream>(std::move(test_reader), test_options);
    }

    store_ = options_.store;
    if (store_ == nullptr) {
      ShardTableOptions table_options;
      table_options.table = options_.table;
      table_options.memory_budget_bytes = options_.table_memory_budget_bytes;
      table_options.rocksdb = options_.table_rocksdb;
      ASSIGN_OR_RETURN(table_, OpenShardTable(table_options));
      maintenance_ = std::make_unique<TableMaintenance>(table_.get(), options_.table_maintenance);
      owned_store_ = NewTableStore(table_.get(), options_.table.optimizer.kind);
      store_ = owned_store_.get();
    }
    if (options_.max_staleness < 0) return InvalidArgumentError("max_staleness must be >= 0");
    prefetch_ = options_.prefetch_rows && options_.max_staleness >= 1;
    for (int r = 0; r < options_.threads; ++r) {
      auto replica = std::make_unique<Replica>();
      ASSIGN_OR_RETURN(replica->model, Model<float>::Create(options_.model));
      replica->state.resize(replica->model->num_state());
      replica->model->InitState(replica->state.data());
      replica->param_grads.resize(replica->model->num_params());
      replicas_.push_back(std::move(replica));
    }
    const Model<float>& model = *replicas_[0]->model;
    params_.resize(model.num_params());
    model.InitParams(params_.data(), options_.seed);
    if (options_.dense_sync != nullptr) {
      RETURN_IF_ERROR(options_.dense_sync->BroadcastFromFirstWorker(
          params_.data(), params_.size(), "initial dense parameters"));
    }
    dense_grads_.resize(model.num_params());
    sync_buffer_.resize(model.num_params() + 1);
    eval_state_.resize(model.num_state());
    dense_optimizer_ = std::make_unique<DenseOptimizer>(options_.dense_optimizer, params_.size());
    RETURN_IF_ERROR(InitCheckpoints());
    LOG(INFO) << "model " << ModelKindName(options_.model.kind) << ": "
              << params_.size() << " dense parameters, embedding dim "
              << options_.model.embedding_dim << ", " << schema_.num_behaviour_fields()
              << " behaviour fields, " << schema_.num_extra_fields() << " extra fields, "
              << options_.threads << " replica thread(s)";
    return Status::OK();
  }

  StatusOr<TrainReport> Train() override {
    TrainReport report;
    MetricsLog metrics_log(options_.is_chief ? options_.metrics_out : std::string());
    double flops_total = 0.0;
    bool stop = false;
    int epoch = start_epoch_;
    bool epoch_finished = false;
    for (; epoch < options_.epochs && !stop; ++epoch) {
      train_stream_->set_next_pass(static_cast<uint64_t>(epoch));
      RETURN_IF_ERROR(train_stream_->StartPass());
      prefetch_primed_ = false;
      batches_in_epoch_ = 0;
      if (epoch == start_epoch_) RETURN_IF_ERROR(SkipResumedBatches());
      epoch_finished = false;
      const auto epoch_start = Clock::now();
      auto last_log = epoch_start;
      double epoch_loss = 0.0;
      int64_t epoch_batches = 0;
      int64_t epoch_samples = 0;
      while (!stop) {
        ASSIGN_OR_RETURN(int got, FillTrainReplicas());
        batches_in_epoch_ += got;
        if (got == 0 && options_.dense_sync == nullptr) {
          epoch_finished = true;
          break;
        }
        const auto step_start = Clock::now();
        // Distributed: a worker whose part is exhausted keeps stepping with
        // zero weight until no worker has data.
        ASSIGN_OR_RETURN(bool any_worker_stepped, TrainStep(got));
        if (!any_worker_stepped) {
          epoch_finished = true;
          break;
        }
        report.train_seconds += SecondsSince(step_start);
        ++report.steps;
        for (int r = 0; r < got; ++r) {
          const Replica& rep = *replicas_[r];
          epoch_loss += rep.loss;
          ++epoch_batches;
          epoch_samples += rep.batch.size;
          report.samples += rep.batch.size;
          flops_total += rep.model->TrainingFlops(rep.batch);
        }
        if (options_.max_steps > 0 && report.steps >= options_.max_steps) stop = true;
        const double since_log = SecondsSince(last_log);
        if (options_.progress_line || since_log >= options_.log_every_seconds) {
          LogProgress(epoch, epoch_samples, report.samples, epoch_loss / epoch_batches,
                      SecondsSince(epoch_start), since_log >= options_.log_every_seconds);
          if (since_log >= options_.log_every_seconds) last_log = Clock::now();
        }
        if (options_.eval_every_steps > 0 && report.steps % options_.eval_every_steps == 0 &&
            test_stream_ != nullptr) {
          RETURN_IF_ERROR(EvaluateAndLog(&metrics_log, report, epoch));
        }
        if (checkpointer_->DueAt(dense_optimizer_->steps())) {
          RETURN_IF_ERROR(SaveCheckpoint(epoch, batches_in_epoch_, report));
        }
      }
      if (options_.progress_line) std::fprintf(stderr, "\n");
      report.final_train_loss = epoch_batches > 0 ? epoch_loss / epoch_batches : 0.0;
      samples_per_epoch_ = epoch_samples;
      LOG(INFO) << "epoch " << epoch + 1 << " done: " << epoch_samples << " samples, mean loss "
                << report.final_train_loss << ", " << SecondsSince(epoch_start) << " s";
      if (test_stream_ != nullptr && options_.eval_every_steps == 0) {
        RETURN_IF_ERROR(EvaluateAndLog(&metrics_log, report, epoch));
      }
    }
    for (auto& rep : replicas_) {
      RETURN_IF_ERROR(DrainPushes(rep.get(), 0));
      RETURN_IF_ERROR(WaitPrefetch(rep.get()));  // a pull for a batch never trained
    }
    if (!evaluated_ && test_stream_ != nullptr) {
      // A run resumed from its last checkpoint trains nothing; its report
      // still scores the model it restored.
      RETURN_IF_ERROR(EvaluateAndLog(&metrics_log, report, epoch - 1));
    }
    if (checkpointer_->enabled() && dense_optimizer_->steps() != last_checkpoint_step_) {
      // Where a resumed run would go on: the next epoch if this one ended.
      if (epoch_finished) {
        RETURN_IF_ERROR(SaveCheckpoint(epoch, 0, report));
      } else {
        RETURN_IF_ERROR(SaveCheckpoint(epoch - 1, batches_in_epoch_, report));
      }
    }
    report.samples_per_second =
        report.train_seconds > 0 ? report.samples / report.train_seconds : 0.0;
    report.job_samples_per_second = report.samples_per_second;
    if (options_.dense_sync != nullptr) {
      float rate = static_cast<float>(report.samples_per_second);
      RETURN_IF_ERROR(options_.dense_sync->Average(&rate, 1, "training rates"));
      report.job_samples_per_second =
          static_cast<double>(rate) * options_.dense_sync->num_workers();
    }
    report.flops_per_sample = report.samples > 0 ? flops_total / report.samples : 0.0;
    report.final_metrics = last_metrics_;
    return report;
  }

  StatusOr<EvalMetrics> Evaluate() override { return EvaluateWithScores(nullptr); }

  StatusOr<EvalMetrics> EvaluateWithScores(std::vector<float>* probs) override {
    if (test_stream_ == nullptr) return FailedPreconditionError("no test files given");
    if (probs != nullptr) probs->clear();
    // Every row push of this worker is applied before evaluating, and (in a
    // distributed job) every other worker's too: all drain, then meet.
    for (auto& rep : replicas_) RETURN_IF_ERROR(DrainPushes(rep.get(), 0));
    AverageStates();
    if (options_.dense_sync != nullptr) {
      RETURN_IF_ERROR(options_.dense_sync->Average(eval_state_.data(), eval_state_.size(),
                                                   "Dice statistics before evaluation"));
    }
    RETURN_IF_ERROR(test_stream_->StartPass());
    std::vector<MetricsAccumulator> accumulators(replicas_.size());
    while (true) {
      ASSIGN_OR_RETURN(int got, FillReplicas(test_stream_.get()));
      if (got == 0) break;
#pragma omp parallel for num_threads(got) schedule(static, 1)
      for (int r = 0; r < got; ++r) {
        Replica& rep = *replicas_[r];
        rep.status = PullRows(&rep, /*create_missing=*/false);
        if (!rep.status.ok()) continue;
        rep.probs.resize(rep.batch.size);
        // Evaluation reads a copy of the averaged statistics (never writes).
        rep.model->Forward(rep.batch, rep.rows.data(), params_.data(), eval_state_.data(),
                           /*training=*/false, rep.probs.data());
        accumulators[r].Add(rep.probs.data(), rep.batch.labels.data(),
                            rep.batch.user_keys.data(), rep.batch.size);
      }
      for (int r = 0; r < got; ++r) RETURN_IF_ERROR(replicas_[r]->status);
      // Replica r took the r-th batch: this keeps the file order.
      for (int r = 0; r < got && probs != nullptr; ++r) {
        probs->insert(probs->end(), replicas_[r]->probs.begin(), replicas_[r]->probs.end());
      }
    }
    for (size_t r = 1; r < accumulators.size(); ++r) accumulators[0].Merge(accumulators[r]);
    return accumulators[0].Compute();
  }

 private:
  // Sets up checkpoints and, when resuming, restores the dense state, the
  // reader position and (single process) the rows.
  Status InitCheckpoints() {
    CheckpointJobInfo job;
    job.model = ToModelSpec(options_.model, schema_, options_.reader.max_history);
    job.dim = static_cast<uint32_t>(options_.model.embedding_dim);
    job.sparse_optimizer = options_.table.optimizer.kind;
    job.init_scale = options_.table.init_scale;
    job.init_seed = options_.table.init_seed;
    checkpointer_ = std::make_unique<Checkpointer>(options_.checkpoint, job, store_,
                                                   options_.dense_sync);
    ASSIGN_OR_RETURN(std::optional<RestoredTraining> restored, checkpointer_->Restore());
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
    if (table_ != nullptr) {
      ASSIGN_OR_RETURN(uint64_t rows, RestoreRows(restored->chain, options_.table.optimizer.kind,
                                                  {}, table_.get()));
      LOG(INFO) << "restored " << rows << " rows from " << restored->chain.newest_dir();
    }
    return Status::OK();
  }

  // Skips the batches a resumed run's checkpoint had already trained on in
  // this pass: the pass repeats the same order (same shuffle seed), so what
  // follows is exactly what the interrupted run would have seen next.
  Status SkipResumedBatches() {
    for (int64_t i = 0; i < skip_batches_; ++i) {
      ASSIGN_OR_RETURN(bool more, train_stream_->Next(&replicas_[0]->batch));
      if (!more) break;
      ++batches_in_epoch_;
    }
    skip_batches_ = 0;
    return Status::OK();
  }

  // Writes a checkpoint of the current step; the reader position is
  // `batches` batches into pass `epoch`.
  Status SaveCheckpoint(int epoch, int64_t batches, const TrainReport& report) {
    for (auto& rep : replicas_) RETURN_IF_ERROR(DrainPushes(rep.get(), 0));
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

  // Hands the next batches of `stream` to the replicas; returns how many got one.
  StatusOr<int> FillReplicas(BatchStream* stream) {
    int got = 0;
    for (auto& replica : replicas_) {
      ASSIGN_OR_RETURN(bool more, stream->Next(&replica->batch));
      replica->has_batch = more;
      if (!more) break;
      ++got;
    }
    return got;
  }

  // FillReplicas for training. With prefetching, each replica's batch comes
  // with its rows already pulled (during the previous step's compute), and
  // the batch after it is taken from the stream (same round-robin order as
  // without prefetching) and its pull sent before this step computes.
  StatusOr<int> FillTrainReplicas() {
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

  Status TakeAndPrefetch(Replica* rep) {
    ASSIGN_OR_RETURN(rep->has_next, train_stream_->Next(&rep->next_batch));
    if (!rep->has_next) return Status::OK();
    const int k = rep->next_batch.num_unique_keys();
    rep->next_rows.resize(static_cast<size_t>(k) * options_.model.embedding_dim);
    rep->next_counts.resize(k);
    rep->next_pull = store_->Pull(rep->next_batch.unique_keys.data(), k, /*create_missing=*/true,
                                  rep->next_rows.data(), rep->next_counts.data());
    return Status::OK();
  }

  Status WaitPrefetch(Replica* rep) {
    if (rep->next_pull == 0) return Status::OK();
    const uint64_t ticket = rep->next_pull;
    rep->next_pull = 0;
    return store_->Wait(ticket);
  }

  Status PullRows(Replica* rep, bool create_missing) {
    const int k = rep->batch.num_unique_keys();
    const int dim = options_.model.embedding_dim;
    rep->rows.resize(static_cast<size_t>(k) * dim);
    rep->counts.resize(k);
    const uint64_t ticket = store_->Pull(rep->batch.unique_keys.data(), k, create_missing,
                                         rep->rows.data(), rep->counts.data());
    return store_->Wait(ticket);
  }

  // Waits for the oldest pushes until at most `keep` are unacknowledged.
  Status DrainPushes(Replica* rep, size_t keep) {
    while (rep->pushes.size() > keep) {
      const uint64_t ticket = rep->pushes.front();
      rep->pushes.pop_front();
      RETURN_IF_ERROR(store_->Wait(ticket));
    }
    return Status::OK();
  }

  // Forward/backward of every replica that has a batch, sparse pushes, then
  // one dense step on the dense gradients averaged over replicas (and, in a
  // distributed job, over the workers that had a batch). Returns false when
  // no replica of any worker had a batch: the pass is over.
  StatusOr<bool> TrainStep(int replicas) {
    const int64_t step = dense_optimizer_->steps();
    if (replicas > 0) {
#pragma omp parallel for num_threads(replicas) schedule(static, 1)
      for (int r = 0; r < replicas; ++r) {
        replicas_[r]->status = ReplicaStep(replicas_[r].get(), step);
      }
      for (int r = 0; r < replicas; ++r) RETURN_IF_ERROR(replicas_[r]->status);
    }
    std::fill(dense_grads_.begin(), dense_grads_.end(), 0.0f);
    const int n = static_cast<int>(dense_grads_.size());
    for (int r = 0; r < replicas; ++r) {
      cblas_saxpy(n, 1.0f / static_cast<float>(replicas), replicas_[r]->param_grads.data(), 1,
                  dense_grads_.data(), 1);
    }
    if (options_.dense_sync != nullptr) {
      // The last float carries this worker's weight (1 if it stepped), so
      // the average over workers divides by the workers that stepped.
      std::copy(dense_grads_.begin(), dense_grads_.end(), sync_buffer_.begin());
      sync_buffer_[n] = replicas > 0 ? 1.0f : 0.0f;
      RETURN_IF_ERROR(options_.dense_sync->Average(sync_buffer_.data(), sync_buffer_.size(),
                                                   "dense gradients"));
      const float stepped = sync_buffer_[n];
      if (stepped <= 0.0f) return false;
      for (int i = 0; i < n; ++i) dense_grads_[i] = sync_buffer_[i] / stepped;
    } else if (replicas == 0) {
      return false;
    }
    dense_optimizer_->Step(dense_grads_.data(), params_.data());
    return true;
  }

  Status ReplicaStep(Replica* rep, int64_t step) {
    if (!rep->rows_ready) RETURN_IF_ERROR(PullRows(rep, /*create_missing=*/true));
    rep->rows_ready = false;
    const Batch& batch = rep->batch;
    const int k = batch.num_unique_keys();
    const int dim = options_.model.embedding_dim;
    rep->probs.resize(batch.size);
    rep->row_grads.assign(static_cast<size_t>(k) * dim, 0.0f);
    std::fill(rep->param_grads.begin(), rep->param_grads.end(), 0.0f);
    double loss = rep->model->Forward(batch, rep->rows.data(), params_.data(), rep->state.data(),
                                      /*training=*/true, rep->probs.data());
    rep->model->Backward(batch, rep->rows.data(), params_.data(), rep->param_grads.data(),
                         rep->row_grads.data());
    if (options_.mba_lambda > 0.0f) {
      // n_k counts this batch's occurrences too.
      for (int i = 0; i < k; ++i) rep->counts[i] += batch.key_counts[i];
      loss += mba_regularization(rep->row_grads.data(), rep->rows.data(), rep->counts.data(), k,
                                 dim, options_.mba_lambda);
    }
    if (!std::isfinite(loss)) {
      return InternalError("training loss is not finite at step " + std::to_string(step) +
                           "; lower the learning rates");
    }
    rep->loss = loss;
    rep->pushes.push_back(store_->Push(batch.unique_keys.data(), k, rep->row_grads.data(),
                                       batch.key_counts.data(), step));
    return DrainPushes(rep, static_cast<size_t>(options_.max_staleness));
  }

  // Evaluation uses the mean of the replicas' Dice moving statistics.
  void AverageStates() {
    std::fill(eval_state_.begin(), eval_state_.end(), 0.0f);
    const float scale = 1.0f / static_cast<float>(replicas_.size());
    for (const auto& rep : replicas_) {
      for (size_t i = 0; i < eval_state_.size(); ++i) eval_state_[i] += scale * rep->state[i];
    }
  }

  Status EvaluateAndLog(MetricsLog* log, const TrainReport& report, int epoch) {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(EvalMetrics m, Evaluate());
    last_metrics_ = m;
    evaluated_ = true;
    const double sps = report.train_seconds > 0 ? report.samples / report.train_seconds : 0.0;
    LOG(INFO) << "eval after epoch " << epoch + 1 << " step " << report.steps << ": test_auc "
              << m.auc << " test_gauc " << m.gauc << " test_logloss " << m.logloss << " ("
              << m.samples << " samples, " << m.gauc_users << " GAUC users, "
              << SecondsSince(start) << " s); train " << sps << " samples/s";
    MetricsRecord record;
    record.model = ModelKindName(options_.model.kind);
    record.epoch = epoch + 1;
    record.step = report.steps;
    record.samples = report.samples;
    record.metrics = m;
    record.train_samples_per_sec = sps;
    record.threads = options_.threads;
    return log->Append(record);
  }

  void LogProgress(int epoch, int64_t samples, int64_t total_samples, double mean_loss,
                   double seconds, bool to_log) {
    const double sps = seconds > 0 ? samples / seconds : 0.0;
    std::string eta = "?";
    double per_epoch = static_cast<double>(samples_per_epoch_);
    if (samples_per_epoch_ == 0) {
      // First epoch: estimated from the input read so far; exact from the
      // end of epoch 1 on.
      per_epoch = train_stream_->EstimatedPassSamples();
    }
    if (per_epoch > 0 && sps > 0) {
      double planned = per_epoch * options_.epochs;
      if (options_.max_steps > 0) {
        planned = std::min(planned, static_cast<double>(options_.max_steps) *
                                        options_.batch_size * options_.threads);
      }
      const double left = planned - static_cast<double>(total_samples);
      eta = std::to_string(static_cast<long long>(std::max(0.0, left) / sps)) + " s";
    }
    if (options_.progress_line) {
      std::fprintf(stderr, "\repoch %d/%d  %lld samples  %.0f samples/s  loss %.5f  ETA %s   ",
                   epoch + 1, options_.epochs, static_cast<long long>(samples), sps, mean_loss,
                   eta.c_str());
      std::fflush(stderr);
    } else if (to_log) {
      LOG(INFO) << "epoch " << epoch + 1 << "/" << options_.epochs << ": " << samples
                << " samples, " << sps << " samples/s, loss " << mean_loss << ", ETA " << eta;
    }
  }

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
  std::vector<float> dense_grads_;
  std::vector<float> sync_buffer_;  // dense gradients + this worker's weight
  std::vector<float> eval_state_;
  std::unique_ptr<DenseOptimizer> dense_optimizer_;
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
  bool prefetch_primed_ = false;  // this pass's first batches were taken
};

}  // namespace

DenseOptimizerOptions DefaultDenseOptimizer() {
  DenseOptimizerOptions o;
  o.kind = DenseOptimizerKind::kAdam;
  o.learning_rate = 0.002f;
  return o;
}

SparseTableOptions DefaultTable() {
  SparseTableOptions o;
  o.optimizer.kind = SparseOptimizerKind::kAdam;
  o.optimizer.learning_rate = 0.003f;
  o.init_scale = 0.01f;
  return o;
}

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options) {
  auto trainer = std::make_unique<TrainerImpl>(options);
  RETURN_IF_ERROR(trainer->Init());
  return std::unique_ptr<Trainer>(std::move(trainer));
}

}  // namespace dips
