// TrainerImpl: evaluation, metrics lines and the progress line.
#include "worker/train/trainer_impl.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace dips {
namespace train_internal {

StatusOr<EvalMetrics> TrainerImpl::EvaluateWithScores(std::vector<float>* probs) {
  if (test_stream_ == nullptr) return FailedPreconditionError("no test files given");
  if (probs != nullptr) probs->clear();
  // Every row push of this worker is applied before evaluating, and (in a
  // distributed job) every other worker's too: all drain, then meet.
  for (auto& rep : replicas_) RETURN_IF_ERROR(SettlePushes(rep.get()));
  RETURN_IF_ERROR(FinishDenseAverage());
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
      rep.status = rep.model->status();
      if (!rep.status.ok()) continue;
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

Status TrainerImpl::EvaluateAndLog(MetricsLog* log, const TrainReport& report, int epoch) {
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

void TrainerImpl::LogProgress(int epoch, int64_t samples, int64_t total_samples, double mean_loss,
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

}  // namespace train_internal
}  // namespace dips
