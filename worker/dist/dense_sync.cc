#include "worker/dist/dense_sync.h"

#include <climits>
#include <memory>
#include <string>

#include "worker/dist/mpi_wait.h"

namespace dips {

using dist_internal::MpiErrorToStatus;

StatusOr<std::unique_ptr<DenseSync>> DenseSync::Create(MPI_Comm workers,
                                                       const DenseSyncOptions& options) {
  if (workers == MPI_COMM_NULL) {
    return InvalidArgumentError("DenseSync: no workers' communicator (is this rank a server?)");
  }
  if (options.timeout.count() <= 0) {
    return InvalidArgumentError("DenseSync: timeout must be positive");
  }
  int size = 0;
  int rank = 0;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(workers, &size), "DenseSync: MPI_Comm_size"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(workers, &rank), "DenseSync: MPI_Comm_rank"));
  return std::unique_ptr<DenseSync>(new DenseSync(workers, options, size, rank));
}

Status DenseSync::Begin(size_t n, std::string_view op, std::string_view what) const {
  if (failed_) {
    return FailedPreconditionError("DenseSync::" + std::string(op) + "(" + std::string(what) +
                                   "): an earlier collective timed out; the job must be aborted");
  }
  if (n > static_cast<size_t>(INT_MAX)) {
    return InvalidArgumentError("DenseSync::" + std::string(op) + "(" + std::string(what) +
                                "): " + std::to_string(n) + " floats exceed INT_MAX");
  }
  return Status::OK();
}

Status DenseSync::Await(MPI_Request* request, std::string_view op, std::string_view what,
                        size_t n, std::chrono::milliseconds timeout) {
  const std::string description = "DenseSync::" + std::string(op) + "(" + std::string(what) +
                                  ", " + std::to_string(n) + " floats) among " +
                                  std::to_string(num_workers_) + " workers, on worker " +
                                  std::to_string(worker_index_);
  Status status = dist_internal::WaitWithDeadline(request, timeout, description);
  if (status.code() == StatusCode::kDeadlineExceeded) failed_ = true;
  return status;
}

Status DenseSync::Average(float* data, size_t n, std::string_view what) {
  RETURN_IF_ERROR(Begin(n, "Average", what));
  const auto start = std::chrono::steady_clock::now();
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, workers_,
                     &request),
      "DenseSync::Average: MPI_Iallreduce"));
  RETURN_IF_ERROR(Await(&request, "Average", what, n, options_.timeout));
  // Every worker holds the same sum (MPI's reduction result is one value),
  // and the same multiplication keeps the replicas bit-identical.
  const float scale = 1.0f / static_cast<float>(num_workers_);
  for (size_t i = 0; i < n; ++i) data[i] *= scale;
  stats_.collectives += 1;
  stats_.floats += static_cast<int64_t>(n);
  stats_.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::OK();
}

Status DenseSync::BroadcastFromFirstWorker(float* data, size_t n, std::string_view what) {
  RETURN_IF_ERROR(Begin(n, "BroadcastFromFirstWorker", what));
  const auto start = std::chrono::steady_clock::now();
  // {n, -n} reduced with MAX gives {max n, -min n}: all sizes agree iff both
  // equal this worker's n, and every worker reaches the same verdict. On the
  // heap because a timed-out reduction may still write into it after return.
  auto sizes = std::make_unique<int64_t[]>(2);
  sizes[0] = static_cast<int64_t>(n);
  sizes[1] = -static_cast<int64_t>(n);
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallreduce(MPI_IN_PLACE, sizes.get(), 2, MPI_INT64_T, MPI_MAX, workers_, &request),
      "DenseSync::BroadcastFromFirstWorker: MPI_Iallreduce(sizes)"));
  Status waited = Await(&request, "BroadcastFromFirstWorker[size check]", what, n, options_.timeout);
  if (!waited.ok()) {
    if (failed_) sizes.release();  // still owned by the pending reduction
    return waited;
  }
  if (sizes[0] != static_cast<int64_t>(n) || -sizes[1] != static_cast<int64_t>(n)) {
    return InvalidArgumentError("DenseSync::BroadcastFromFirstWorker(" + std::string(what) +
                                "): workers disagree on the size: from " +
                                std::to_string(-sizes[1]) + " to " + std::to_string(sizes[0]) +
                                " floats (this worker: " + std::to_string(n) + ")");
  }
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Ibcast(data, static_cast<int>(n), MPI_FLOAT, 0, workers_, &request),
      "DenseSync::BroadcastFromFirstWorker: MPI_Ibcast"));
  RETURN_IF_ERROR(Await(&request, "BroadcastFromFirstWorker", what, n, options_.timeout));
  stats_.collectives += 1;
  stats_.floats += static_cast<int64_t>(n);
  stats_.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::OK();
}

StatusOr<bool> DenseSync::AnyWorker(bool mine, std::string_view what) {
  RETURN_IF_ERROR(Begin(1, "AnyWorker", what));
  const auto start = std::chrono::steady_clock::now();
  // On the heap: a timed-out reduction may still write into it after return.
  auto flag = std::make_unique<int>(mine ? 1 : 0);
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallreduce(MPI_IN_PLACE, flag.get(), 1, MPI_INT, MPI_MAX, workers_, &request),
      "DenseSync::AnyWorker: MPI_Iallreduce"));
  Status waited = Await(&request, "AnyWorker", what, 1, options_.timeout);
  if (!waited.ok()) {
    if (failed_) flag.release();  // still owned by the pending reduction
    return waited;
  }
  stats_.collectives += 1;
  stats_.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return *flag != 0;
}

Status DenseSync::Barrier(std::string_view what, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(Begin(0, "Barrier", what));
  const auto start = std::chrono::steady_clock::now();
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Ibarrier(workers_, &request),
                                   "DenseSync::Barrier: MPI_Ibarrier"));
  RETURN_IF_ERROR(Await(&request, "Barrier", what, 0, timeout));
  stats_.collectives += 1;
  stats_.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::OK();
}

}  // namespace dips
