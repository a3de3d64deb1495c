// DenseSync: keeps the replicated dense parameters of data-parallel workers
// in step (sparse rows go through the parameter servers; dense ones are
// averaged among workers every step). Works on flat float buffers: DIPS keeps
// all dense parameters, their gradients and their optimiser state each in one
// buffer, so one call covers them all.
//
// Every operation is a non-blocking MPI collective on the workers'
// communicator (Cluster::workers()) polled with a deadline
// (DenseSyncOptions::timeout). If a worker is dead or stuck the others get
// DeadlineExceeded naming the buffer, its size and the timeout, never a hang.
// The collective stays pending inside MPI and keeps using the caller's
// buffer, so after a DeadlineExceeded the caller must not free or reuse the
// buffer and must end the job with AbortJob (mpi_session.h), which makes
// mpirun/srun tear down every rank; every later call returns
// FailedPrecondition.
//
// Not thread-safe; calls are serialised by the caller (MPI_THREAD_SERIALIZED,
// see MpiSession). All workers must make the same calls in the same order
// with the same sizes.
#ifndef DIPS_WORKER_DIST_DENSE_SYNC_H_
#define DIPS_WORKER_DIST_DENSE_SYNC_H_

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"

namespace dips {

struct DenseSyncOptions {
  // Bound on each collective: how long a worker waits for the slowest other
  // worker to join. Default 60 s.
  std::chrono::milliseconds timeout{60000};
};

// Counters for reporting how much of a step dense synchronisation costs.
struct DenseSyncStats {
  int64_t collectives = 0;     // completed calls of any operation
  int64_t floats = 0;          // floats moved by them, per worker
  double wait_seconds = 0.0;   // wall time spent inside them
};

class DenseSync {
 public:
  // `workers` is the workers-only communicator (Cluster::workers()); it is
  // not owned and must outlive the DenseSync. InvalidArgument for
  // MPI_COMM_NULL (e.g. called on a server) or a non-positive timeout.
  static StatusOr<std::unique_ptr<DenseSync>> Create(MPI_Comm workers,
                                                     const DenseSyncOptions& options);

  DenseSync(const DenseSync&) = delete;
  DenseSync& operator=(const DenseSync&) = delete;

  int num_workers() const { return num_workers_; }
  int worker_index() const { return worker_index_; }
  const DenseSyncStats& stats() const { return stats_; }

  // Replaces data[0, n) on every worker by the mean over workers: an
  // in-place MPI sum, then a scale by 1/num_workers. Every worker ends with
  // the same bytes. Used for the dense gradients each step and for state
  // buffers (e.g. re-averaging parameters or optimiser moments before a
  // checkpoint). `what` names the buffer in errors. n <= INT_MAX.
  Status Average(float* data, size_t n, std::string_view what);

  // Overwrites data[0, n) on every worker with worker 0's values, e.g. the
  // initial dense parameters, so all replicas start equal. First checks that
  // every worker passes the same n (InvalidArgument on all of them if not);
  // Average relies on the layout agreed here.
  Status BroadcastFromFirstWorker(float* data, size_t n, std::string_view what);

  // True on every worker iff `mine` is true on at least one: a decision
  // each worker makes from local facts (e.g. its own clock) made identical
  // on all. One tiny all-reduce; `what` names it in errors.
  StatusOr<bool> AnyWorker(bool mine, std::string_view what);

  // Returns once every worker has called it, or DeadlineExceeded after
  // `timeout` (longer than DenseSyncOptions::timeout where one worker does
  // slow work, such as a checkpoint, while the others wait).
  Status Barrier(std::string_view what, std::chrono::milliseconds timeout);

 private:
  DenseSync(MPI_Comm workers, const DenseSyncOptions& options, int num_workers, int worker_index)
      : workers_(workers), options_(options), num_workers_(num_workers),
        worker_index_(worker_index) {}

  // Validates state and size; the common start of every operation.
  Status Begin(size_t n, std::string_view op, std::string_view what) const;
  // Bounded wait; a timeout makes this DenseSync unusable.
  Status Await(MPI_Request* request, std::string_view op, std::string_view what, size_t n,
               std::chrono::milliseconds timeout);

  const MPI_Comm workers_;
  const DenseSyncOptions options_;
  const int num_workers_;
  const int worker_index_;
  bool failed_ = false;
  DenseSyncStats stats_;
};

}  // namespace dips

#endif  // DIPS_WORKER_DIST_DENSE_SYNC_H_
