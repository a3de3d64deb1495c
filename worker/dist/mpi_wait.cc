#include "worker/dist/mpi_wait.h"

#include <algorithm>
#include <string>
#include <thread>

namespace dips {
namespace dist_internal {
namespace {

// Yields before the first sleep; about the time of a small loopback
// all-reduce on a busy machine.
constexpr int kYieldPolls = 256;
constexpr std::chrono::microseconds kFirstSleep{10};
constexpr std::chrono::microseconds kMaxSleep{1000};

}  // namespace

Status MpiErrorToStatus(int mpi_error, std::string_view what) {
  if (mpi_error == MPI_SUCCESS) return Status::OK();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(mpi_error, text, &length) != MPI_SUCCESS) length = 0;
  return InternalError(std::string(what) + ": MPI error " + std::to_string(mpi_error) + " (" +
                       std::string(text, static_cast<size_t>(length)) + ")");
}

Status WaitWithDeadline(MPI_Request* request, std::chrono::milliseconds timeout,
                        std::string_view what) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  std::chrono::microseconds sleep = kFirstSleep;
  for (int polls = 0;; ++polls) {
    int done = 0;
    RETURN_IF_ERROR(MpiErrorToStatus(MPI_Test(request, &done, MPI_STATUS_IGNORE), what));
    if (done) return Status::OK();
    if (Clock::now() >= deadline) {
      return DeadlineExceededError(
          std::string(what) + ": not complete after " + std::to_string(timeout.count()) +
          " ms; a peer rank is dead or stuck. The operation cannot be cancelled: abort the job");
    }
    if (polls < kYieldPolls) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(sleep, deadline - Clock::now()));
      sleep = std::min(sleep * 2, kMaxSleep);
    }
  }
}

}  // namespace dist_internal
}  // namespace dips
