// Internal to worker/dist: bounded waiting on non-blocking MPI operations and
// MPI error codes as Status. Cluster and DenseSync build every collective
// from a non-blocking call (MPI_Iallreduce, MPI_Ibcast, ...) plus
// WaitWithDeadline, so no MPI wait in DIPS can block forever.
#ifndef DIPS_WORKER_DIST_MPI_WAIT_H_
#define DIPS_WORKER_DIST_MPI_WAIT_H_

#include <mpi.h>

#include <chrono>
#include <string_view>

#include "common/status.h"

namespace dips {
namespace dist_internal {

// OK if `mpi_error` is MPI_SUCCESS, else Internal naming `what` and MPI's
// own error string. (Communicators made by Cluster use MPI_ERRORS_RETURN, so
// MPI errors arrive here instead of aborting.)
Status MpiErrorToStatus(int mpi_error, std::string_view what);

// Polls `*request` with MPI_Test until it completes or `timeout` has passed.
// MPI_Test also drives MPI's progress engine, so polling is what moves the
// collective forward. Polling first yields the CPU a few hundred times (a
// collective among live peers usually completes within that), then sleeps
// with exponential backoff capped at 1 ms, so a long wait costs little CPU on
// an oversubscribed machine.
//
// On DeadlineExceeded the request is still pending: MPI cannot cancel a
// collective, so its buffers stay in use by MPI and the job must be ended
// with AbortJob. The message names `what` and the timeout.
Status WaitWithDeadline(MPI_Request* request, std::chrono::milliseconds timeout,
                        std::string_view what);

}  // namespace dist_internal
}  // namespace dips

#endif  // DIPS_WORKER_DIST_MPI_WAIT_H_
