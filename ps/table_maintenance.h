// TableMaintenance: a background thread that runs a table's periodic chores
// — a shrink pass (feature eviction, docs/tables.md) and a stats log line —
// so that a server only has to construct one. FormatTableStats is the log
// line, also usable on its own.
//
// Thread-safety: the table is thread-safe, so the chores run concurrently
// with pulls and pushes (a shrink pass holds one stripe lock at a time).
#ifndef DIPS_PS_TABLE_MAINTENANCE_H_
#define DIPS_PS_TABLE_MAINTENANCE_H_

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "ps/sparse_table.h"

namespace dips {

struct TableMaintenanceOptions {
  std::string name = "table";       // in log lines
  double stats_every_seconds = 60;  // 0: no periodic stats line
  double shrink_every_seconds = 0;  // 0: no periodic shrink
  ShrinkOptions shrink;             // which rows a periodic shrink removes
};

// "rows=… mem=… disk=… hit=…%" and the other counters, on one line.
std::string FormatTableStats(const SparseTableStats& stats);

class TableMaintenance {
 public:
  // `table` is borrowed and must outlive this object. Starts the thread
  // unless both periods are 0.
  TableMaintenance(SparseTable* table, const TableMaintenanceOptions& options);
  // Stops the thread (waits for a running shrink pass to finish).
  ~TableMaintenance();

  TableMaintenance(const TableMaintenance&) = delete;
  TableMaintenance& operator=(const TableMaintenance&) = delete;

 private:
  void Loop();

  SparseTable* const table_;
  const TableMaintenanceOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dips

#endif  // DIPS_PS_TABLE_MAINTENANCE_H_
