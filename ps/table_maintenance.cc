#include "ps/table_maintenance.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <glog/logging.h>

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

std::string FormatTableStats(const SparseTableStats& s) {
  const uint64_t lookups = s.memory_hits + s.memory_misses;
  const double hit_rate = lookups > 0 ? 100.0 * s.memory_hits / lookups : 100.0;
  char line[512];
  std::snprintf(line, sizeof(line),
                "rows=%llu in_memory=%llu on_disk=%llu mem_bytes=%llu disk_bytes=%llu "
                "hit=%.1f%% loads=%llu spills=%llu pulls=%llu pushes=%llu created=%llu "
                "admitted=%llu unadmitted_pulls=%llu unadmitted_pushes=%llu evicted=%llu "
                "shrinks=%llu step=%lld",
                static_cast<unsigned long long>(s.rows),
                static_cast<unsigned long long>(s.rows_in_memory),
                static_cast<unsigned long long>(s.rows_on_disk),
                static_cast<unsigned long long>(s.bytes),
                static_cast<unsigned long long>(s.disk_bytes), hit_rate,
                static_cast<unsigned long long>(s.disk_loads),
                static_cast<unsigned long long>(s.spills),
                static_cast<unsigned long long>(s.pulls),
                static_cast<unsigned long long>(s.pushes),
                static_cast<unsigned long long>(s.rows_created),
                static_cast<unsigned long long>(s.admissions),
                static_cast<unsigned long long>(s.unadmitted_pulls),
                static_cast<unsigned long long>(s.unadmitted_pushes),
                static_cast<unsigned long long>(s.evictions),
                static_cast<unsigned long long>(s.shrink_passes),
                static_cast<long long>(s.latest_step));
  return line;
}

TableMaintenance::TableMaintenance(SparseTable* table, const TableMaintenanceOptions& options)
    : table_(table), options_(options) {
  if (options.stats_every_seconds > 0 || options.shrink_every_seconds > 0) {
    thread_ = std::thread([this] { Loop(); });
  }
}

TableMaintenance::~TableMaintenance() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TableMaintenance::Loop() {
  const bool stats = options_.stats_every_seconds > 0;
  const bool shrink = options_.shrink_every_seconds > 0;
  Clock::time_point next_stats = Clock::now() + Seconds(options_.stats_every_seconds);
  Clock::time_point next_shrink = Clock::now() + Seconds(options_.shrink_every_seconds);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const Clock::time_point wake = !stats    ? next_shrink
                                   : !shrink ? next_stats
                                             : std::min(next_stats, next_shrink);
    if (wake_.wait_until(lock, wake, [this] { return stop_; })) break;
    lock.unlock();
    const Clock::time_point now = Clock::now();
    if (shrink && now >= next_shrink) {
      StatusOr<ShrinkResult> result = table_->Shrink(options_.shrink);
      if (result.ok()) {
        LOG(INFO) << options_.name << " shrink: removed " << result->rows_removed << " of "
                  << result->rows_scanned << " rows";
      } else {
        LOG(ERROR) << options_.name << " shrink failed: " << result.status().ToString();
      }
      next_shrink = Clock::now() + Seconds(options_.shrink_every_seconds);
    }
    if (stats && now >= next_stats) {
      LOG(INFO) << options_.name << " stats: " << FormatTableStats(table_->Stats());
      next_stats = Clock::now() + Seconds(options_.stats_every_seconds);
    }
    lock.lock();
  }
}

}  // namespace dips
