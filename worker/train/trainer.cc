#include "worker/train/trainer.h"

#include <cblas.h>
#include <glog/logging.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "ps/table_factory.h"
#include "worker/train/trainer_impl.h"

namespace dips {
namespace train_internal {

Status TrainerImpl::Init() {
  if (options_.train_files.empty()) return InvalidArgumentError("no training files given");
  if (options_.batch_size <= 0) return InvalidArgumentError("batch_size must be positive");
  if (options_.threads <= 0) return InvalidArgumentError("threads must be positive");
  if (options_.mba_lambda < 0.0f) options_.mba_lambda = DefaultMbaLambda(options_.model.kind);
  // The replicas are the parallelism; BLAS runs in the calling thread.
  openblas_set_num_threads(1);

  ASSIGN_OR_RETURN(std::unique_ptr<LogReader> train_reader,
                   LogReader::Open(options_.train_files, options_.reader));
  schema_ = train_reader->schema();
  options_.model.num_behaviour_fields = schema_.num_behaviour_fields();
  options_.model.num_extra_fields = schema_.num_extra_fields();
  options_.table.dim = options_.model.embedding_dim;

  // Each worker of a distributed job shuffles its part and draws its
  // negatives with its own seed (see PartShuffleSeed for why).
  const uint64_t part_seed = PartShuffleSeed(options_.seed, options_.reader.part_index);
  BatchStreamOptions stream_options;
  stream_options.batch_size = options_.batch_size;
  stream_options.builder.with_negatives = options_.model.kind == ModelKind::kDien &&
                                          options_.model.aux_loss_weight > 0.0f;
  stream_options.builder.seed = part_seed;
  stream_options.shuffle_buffer = options_.shuffle_buffer;
  stream_options.shuffle_seed = part_seed;
  // The replicas have nothing to do while the shuffle buffer fills.
  stream_options.fill_threads = options_.threads;
  // Several replicas build most batches themselves while they wait for
  // each other (TrainStep); the background thread tops the queue up to two
  // steps' worth only when they fall behind.
  // A distributed worker with overlapped dense averages builds batches
  // while it waits for the average in flight (FinishDenseAverage).
  if (options_.threads > 1 || OverlapsDenseAverage()) {
    stream_options.background_depth = std::min(2 * options_.threads, stream_options.queue_depth);
  }
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
    test_options.background_depth = 0;  // no helpers in evaluation
    test_stream_ = std::make_unique<BatchStream>(std::move(test_reader), test_options);
  }

  // Single process: the table is opened once InitCheckpoints knows whether
  // it starts from a checkpoint (OpenTable).
  store_ = options_.store;
  if (options_.max_staleness < 0) return InvalidArgumentError("max_staleness must be >= 0");
  prefetch_ = options_.prefetch_rows && options_.max_staleness >= 1;
  for (int r = 0; r < options_.threads; ++r) {
    auto replica = std::make_unique<Replica>();
    ASSIGN_OR_RETURN(replica->model, CreateModel(options_.model, options_.device));
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
  RETURN_IF_ERROR(dense_optimizer_->SetLearningRateScales(ScaledRanges(model.layout())));
  if (OverlapsDenseAverage()) {
    background_average_ = std::make_unique<BackgroundAverage>(options_.dense_sync);
  }
  RETURN_IF_ERROR(InitCheckpoints());  // opens the table store in a single process
  push_with_pull_ =
      prefetch_ && options_.push_with_pull && store_->PushThenPullSavesRoundTrips();
  LOG(INFO) << "model " << ModelKindName(options_.model.kind) << ": "
            << params_.size() << " dense parameters, embedding dim "
            << options_.model.embedding_dim << ", " << schema_.num_behaviour_fields()
            << " behaviour fields, " << schema_.num_extra_fields() << " extra fields, "
            << options_.threads << " replica thread(s) on "
            << ModelDeviceName(options_.device) << ", MBA lambda " << options_.mba_lambda;
  return Status::OK();
}

StatusOr<TrainReport> TrainerImpl::Train() {
  TrainReport report;
  MetricsLog metrics_log(options_.is_chief ? options_.metrics_out : std::string());
  RETURN_IF_ERROR(metrics_log.Open());
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
    bool pass_start = true;
    while (!stop) {
      // The step's clock starts before its batches arrive: a rate that left
      // out the waits for input would flatter whichever path waits more.
      const auto step_start = Clock::now();
      ASSIGN_OR_RETURN(int got, FillTrainReplicas());
      const double waited = SecondsSince(step_start);
      batches_in_epoch_ += got;
      if (got == 0 && options_.dense_sync == nullptr) {
        epoch_finished = true;
        break;
      }
      // Distributed: a worker whose part is exhausted keeps stepping with
      // zero weight until no worker has data.
      ASSIGN_OR_RETURN(bool any_worker_stepped, TrainStep(got));
      if (!any_worker_stepped) {
        epoch_finished = true;
        break;
      }
      report.train_seconds += SecondsSince(step_start);
      report.feed_seconds += waited;
      if (pass_start) report.pass_start_seconds += waited;
      pass_start = false;
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
      if (options_.checkpoint.every_seconds > 0) RETURN_IF_ERROR(FinishDenseAverage());
      ASSIGN_OR_RETURN(bool checkpoint_due, checkpointer_->DueAt(StepsTaken()));
      if (checkpoint_due) RETURN_IF_ERROR(SaveCheckpoint(epoch, batches_in_epoch_, report));
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
  RETURN_IF_ERROR(FinishDenseAverage());
  for (auto& rep : replicas_) {
    RETURN_IF_ERROR(SettlePushes(rep.get()));
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
  const double steady_seconds = report.train_seconds - report.pass_start_seconds;
  report.steady_samples_per_second = steady_seconds > 0 ? report.samples / steady_seconds : 0.0;
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

StatusOr<bool> TrainerImpl::TrainStep(int replicas) {
  const int64_t step = StepsTaken();
  if (replicas > 0) {
    std::atomic<int> finished{0};
#pragma omp parallel for num_threads(replicas) schedule(static, 1)
    for (int r = 0; r < replicas; ++r) {
      replicas_[r]->status = ReplicaStep(replicas_[r].get(), step);
      finished.fetch_add(1, std::memory_order_acq_rel);
      // A replica done before the others builds the coming batches rather
      // than wait: with as many cores as replicas, every batch built here
      // is one the stream's thread does not build on a replica's core.
      while (finished.load(std::memory_order_acquire) < replicas &&
             train_stream_->HelpProduce()) {
      }
    }
    for (int r = 0; r < replicas; ++r) RETURN_IF_ERROR(replicas_[r]->status);
  }
  // The average in flight (overlap_dense_sync) owns sync_buffer_, and every
  // worker must make the same collectives in the same order: finish it first.
  RETURN_IF_ERROR(FinishDenseAverage());
  const bool distributed = options_.dense_sync != nullptr;
  // The replicas' mean gradient; in a distributed job straight into the
  // buffer the workers average, whose last float carries this worker's
  // weight (1 if it stepped), so the average divides by the workers that
  // stepped.
  const int n = static_cast<int>(dense_grads_.size());
  float* mean = distributed ? sync_buffer_.data() : dense_grads_.data();
  std::fill(mean, mean + n, 0.0f);
  for (int r = 0; r < replicas; ++r) {
    cblas_saxpy(n, 1.0f / static_cast<float>(replicas), replicas_[r]->param_grads.data(), 1, mean,
                1);
  }
  if (!distributed) {
    if (replicas == 0) return false;
    dense_optimizer_->Step(mean, params_.data());
    return true;
  }
  sync_buffer_[n] = replicas > 0 ? 1.0f : 0.0f;
  if (background_average_ != nullptr && replicas > 0) {
    // Overlapped: the average finishes while the next step computes, and
    // is applied when that step ends.
    background_average_->Start(sync_buffer_.data(), sync_buffer_.size(), "dense gradients");
    return true;
  }
  // Not overlapping, or out of data: average in step with the others.
  RETURN_IF_ERROR(options_.dense_sync->Average(sync_buffer_.data(), sync_buffer_.size(),
                                               "dense gradients"));
  return StepOnAverage();
}

bool TrainerImpl::StepOnAverage() {
  const size_t n = dense_grads_.size();
  const float stepped = sync_buffer_[n];
  if (stepped <= 0.0f) return false;
  for (size_t i = 0; i < n; ++i) dense_grads_[i] = sync_buffer_[i] / stepped;
  dense_optimizer_->Step(dense_grads_.data(), params_.data());
  return true;
}

Status TrainerImpl::FinishDenseAverage() {
  if (background_average_ == nullptr || !background_average_->pending()) return Status::OK();
  // Waiting on a slower worker: build the coming batches meanwhile, each one
  // a batch the stream's thread need not build on a shared core.
  while (!background_average_->Finished() && train_stream_->HelpProduce()) {
  }
  RETURN_IF_ERROR(background_average_->Wait());
  const bool stepped = StepOnAverage();
  CHECK(stepped) << "an overlapped average always holds this worker's own weight";
  return Status::OK();
}

Status TrainerImpl::ReplicaStep(Replica* rep, int64_t step) {
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
  RETURN_IF_ERROR(rep->model->status());  // a device failure, not a diverged loss
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
  if (push_with_pull_) {
    // Sent with the next prefetch, once FillTrainReplicas knows its keys.
    rep->push_deferred = true;
    rep->deferred_step = step;
    return Status::OK();
  }
  rep->pushes.push_back(store_->Push(batch.unique_keys.data(), k, rep->row_grads.data(),
                                     batch.key_counts.data(), step));
  return DrainPushes(rep, static_cast<size_t>(options_.max_staleness));
}

void TrainerImpl::AverageStates() {
  std::fill(eval_state_.begin(), eval_state_.end(), 0.0f);
  const float scale = 1.0f / static_cast<float>(replicas_.size());
  for (const auto& rep : replicas_) {
    for (size_t i = 0; i < eval_state_.size(); ++i) eval_state_[i] += scale * rep->state[i];
  }
}

}  // namespace train_internal

DenseOptimizerOptions DefaultDenseOptimizer() {
  DenseOptimizerOptions o;
  o.kind = DenseOptimizerKind::kAdam;
  o.learning_rate = 0.002f;
  return o;
}

float DefaultMbaLambda(ModelKind kind) { return kind == ModelKind::kDien ? 0.15f : 0.05f; }

SparseTableOptions DefaultTable() {
  SparseTableOptions o;
  o.optimizer.kind = SparseOptimizerKind::kAdam;
  o.optimizer.learning_rate = 0.003f;
  o.init_scale = 0.01f;
  return o;
}

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options) {
  auto trainer = std::make_unique<train_internal::TrainerImpl>(options);
  RETURN_IF_ERROR(trainer->Init());
  return std::unique_ptr<Trainer>(std::move(trainer));
}

}  // namespace dips
