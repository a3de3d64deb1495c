// MetricsLog: appends one JSON object per evaluation to --metrics_out.
// Scripts and dashboards read these keys; keep them stable:
//   model, epoch, step, samples, test_auc, test_gauc, test_logloss,
//   test_samples, gauc_users, train_samples_per_sec, threads, unix_time
#ifndef DIPS_WORKER_TRAIN_METRICS_LOG_H_
#define DIPS_WORKER_TRAIN_METRICS_LOG_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "worker/train/metrics.h"

namespace dips {

struct MetricsRecord {
  std::string model;
  int epoch = 0;
  int64_t step = 0;
  int64_t samples = 0;  // training samples seen so far
  EvalMetrics metrics;
  double train_samples_per_sec = 0.0;
  int threads = 1;
};

std::string MetricsRecordToJson(const MetricsRecord& record);

class MetricsLog {
 public:
  // An empty path disables the log.
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  // Creates the file's directory if need be and checks that the file can be
  // appended to, so that a bad path fails before training rather than at
  // the first evaluation. Appends nothing.
  Status Open();
  // Appends and flushes one line.
  Status Append(const MetricsRecord& record);

 private:
  std::string path_;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_METRICS_LOG_H_
