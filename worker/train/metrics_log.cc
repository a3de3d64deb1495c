#include "worker/train/metrics_log.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace dips {

std::string MetricsRecordToJson(const MetricsRecord& r) {
  char buf[1024];
  // Model names are fixed identifiers (base/din/dien): no escaping needed.
  std::snprintf(buf, sizeof(buf),
                "{\"model\":\"%s\",\"epoch\":%d,\"step\":%lld,\"samples\":%lld,"
                "\"test_auc\":%.6f,\"test_gauc\":%.6f,\"test_logloss\":%.6f,"
                "\"test_samples\":%lld,\"gauc_users\":%lld,"
                "\"train_samples_per_sec\":%.1f,\"threads\":%d,\"unix_time\":%lld}",
                r.model.c_str(), r.epoch, static_cast<long long>(r.step),
                static_cast<long long>(r.samples), r.metrics.auc, r.metrics.gauc,
                r.metrics.logloss, static_cast<long long>(r.metrics.samples),
                static_cast<long long>(r.metrics.gauc_users), r.train_samples_per_sec, r.threads,
                static_cast<long long>(std::time(nullptr)));
  return buf;
}

Status MetricsLog::Open() {
  if (path_.empty()) return Status::OK();
  const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      return IOError("cannot create the directory of --metrics_out file " + path_ + ": " +
                     error.message());
    }
  }
  FILE* f = std::fopen(path_.c_str(), "a");
  if (f == nullptr) {
    return IOError("cannot open --metrics_out file " + path_ + ": " + std::strerror(errno));
  }
  if (std::fclose(f) != 0) return IOError("cannot write --metrics_out file " + path_);
  return Status::OK();
}

Status MetricsLog::Append(const MetricsRecord& record) {
  if (path_.empty()) return Status::OK();
  FILE* f = std::fopen(path_.c_str(), "a");
  if (f == nullptr) {
    return IOError("cannot open --metrics_out file " + path_ + ": " + std::strerror(errno));
  }
  const std::string line = MetricsRecordToJson(record) + "\n";
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return IOError("cannot write --metrics_out file " + path_);
  return Status::OK();
}

}  // namespace dips
