#include "worker/dist/mpi_session.h"

#include <mpi.h>

#include <cstdlib>
#include <string>

#include <glog/logging.h>

namespace dips {

StatusOr<std::unique_ptr<MpiSession>> MpiSession::Init(int* argc, char*** argv) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized || finalized) {
    return FailedPreconditionError(
        "MpiSession::Init: MPI was already initialised or finalised in this process");
  }
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    return UnavailableError("MpiSession::Init: MPI_Init_thread failed");
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    return FailedPreconditionError(
        "MpiSession::Init: the MPI library granted thread level " + std::to_string(provided) +
        ", DIPS needs MPI_THREAD_SERIALIZED (" + std::to_string(MPI_THREAD_SERIALIZED) + ")");
  }
  return std::unique_ptr<MpiSession>(new MpiSession(provided));
}

MpiSession::~MpiSession() { MPI_Finalize(); }

void AbortJob(const Status& why, int exit_code) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  LOG(ERROR) << "rank " << rank << " aborts the MPI job (exit code " << exit_code
             << "): " << why.ToString();
  google::FlushLogFiles(google::GLOG_INFO);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  // MPI_Abort does not return on any implementation we support; if one did,
  // leaving the process is still the only safe reaction.
  std::_Exit(exit_code);
}

}  // namespace dips
