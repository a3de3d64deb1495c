// MpiSession: owns MPI initialisation and finalisation for one process, and
// AbortJob, the one way DIPS ends a whole MPI job after an unrecoverable
// distributed failure (a timed-out collective, a dead peer).
//
// Threading: DIPS initialises MPI with MPI_THREAD_SERIALIZED. Any thread may
// make MPI calls (the trainer may run dense synchronisation on a thread other
// than main), but never two at once: every MPI-using object (Cluster,
// DenseSync) is NOT thread-safe and the caller serialises all calls into
// them, e.g. by using them from one thread at a time. ZeroMQ traffic does not
// go through MPI and is unaffected.
//
// Ownership and order: create one MpiSession first, then Cluster / DenseSync;
// destroy them before the session (the destructor calls MPI_Finalize, which
// needs every rank to get there).
#ifndef DIPS_WORKER_DIST_MPI_SESSION_H_
#define DIPS_WORKER_DIST_MPI_SESSION_H_

#include <memory>

#include "common/status.h"

namespace dips {

class MpiSession {
 public:
  // Calls MPI_Init_thread(MPI_THREAD_SERIALIZED). `argc`/`argv` may be null.
  // FailedPrecondition if MPI was already initialised or finalised in this
  // process (one session per process) or if the library cannot provide
  // MPI_THREAD_SERIALIZED.
  static StatusOr<std::unique_ptr<MpiSession>> Init(int* argc, char*** argv);

  // Calls MPI_Finalize.
  ~MpiSession();

  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // The thread level the library granted (>= MPI_THREAD_SERIALIZED).
  int thread_level() const { return thread_level_; }

 private:
  explicit MpiSession(int thread_level) : thread_level_(thread_level) {}
  int thread_level_;
};

// Logs `why` and calls MPI_Abort(MPI_COMM_WORLD, exit_code): under mpirun or
// srun this terminates every rank of the job and the launcher exits non-zero
// (mpirun returns `exit_code`). This is the required reaction to a
// DeadlineExceeded from Cluster or DenseSync: the timed-out collective can
// neither be cancelled nor finished, so the job cannot continue. Must be
// called after MpiSession::Init; never returns.
[[noreturn]] void AbortJob(const Status& why, int exit_code = 1);

}  // namespace dips

#endif  // DIPS_WORKER_DIST_MPI_SESSION_H_
