// The failure path of DenseSync: one worker (the straggler, the last one)
// never joins an Average; every other worker must get DeadlineExceeded after
// --timeout_ms and within a small slack, then abort the job as DenseSync's
// contract says. tests/cluster/timeout_abort_test.sh runs this through
// cluster/local.sh and checks that mpirun exits with kExpectedAbortCode, that
// every other worker printed TIMEOUT_OK, and that the whole job ended long
// before the straggler's sleep would have (so the abort tore down all ranks).
//
// Flags: --num_servers=N (from local.sh), --timeout_ms=MS,
// --straggler_sleep_s=S (how long the straggler idles; it must be killed
// before it wakes).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "worker/dist/cluster.h"
#include "worker/dist/dense_sync.h"
#include "worker/dist/mpi_session.h"

namespace {

constexpr int kExpectedAbortCode = 42;
constexpr int kFailureAbortCode = 3;
// How late after the deadline a DeadlineExceeded may arrive on a loaded
// 2-core machine (the poll loop sleeps at most 1 ms between tests).
constexpr std::chrono::milliseconds kSlack{3000};

[[noreturn]] void Fail(const std::string& why) {
  std::printf("TIMEOUT_FAIL %s\n", why.c_str());
  std::fflush(stdout);
  dips::AbortJob(dips::InternalError(why), kFailureAbortCode);
}

}  // namespace

int main(int argc, char** argv) {
  int num_servers = 1;
  long timeout_ms = 1000;
  long straggler_sleep_s = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--num_servers=", 0) == 0) {
      num_servers = std::atoi(arg.c_str() + 14);
    } else if (arg.rfind("--timeout_ms=", 0) == 0) {
      timeout_ms = std::atol(arg.c_str() + 13);
    } else if (arg.rfind("--straggler_sleep_s=", 0) == 0) {
      straggler_sleep_s = std::atol(arg.c_str() + 20);
    } else {
      std::fprintf(stderr, "dist_timeout_test: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  auto session = dips::MpiSession::Init(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "dist_timeout_test: %s\n", session.status().ToString().c_str());
    return 2;
  }
  dips::ClusterOptions cluster_options;
  cluster_options.num_servers = num_servers;
  cluster_options.timeout = std::chrono::milliseconds(timeout_ms);
  auto cluster = dips::Cluster::Create(cluster_options);
  if (!cluster.ok()) Fail("Cluster::Create: " + cluster.status().ToString());
  const dips::Cluster& c = **cluster;
  if (c.num_workers() < 2) Fail("needs at least 2 workers");

  if (c.is_server()) {
    // A server idles until the abort ends it; it never reaches the barrier
    // because the straggler never does either.
    std::this_thread::sleep_for(std::chrono::seconds(straggler_sleep_s));
    Fail("server " + std::to_string(c.rank()) + " was not torn down by the abort");
  }
  if (c.worker_index() == c.num_workers() - 1) {
    std::this_thread::sleep_for(std::chrono::seconds(straggler_sleep_s));
    Fail("straggler " + std::to_string(c.rank()) + " was not torn down by the abort");
  }

  dips::DenseSyncOptions sync_options;
  sync_options.timeout = std::chrono::milliseconds(timeout_ms);
  auto sync = dips::DenseSync::Create(c.workers(), sync_options);
  if (!sync.ok()) Fail("DenseSync::Create: " + sync.status().ToString());
  std::vector<float> gradients(1024, 1.0f);
  const auto start = std::chrono::steady_clock::now();
  dips::Status status = (*sync)->Average(gradients.data(), gradients.size(), "dense gradients");
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (status.code() != dips::StatusCode::kDeadlineExceeded) {
    Fail("expected DeadlineExceeded, got " + status.ToString());
  }
  if (elapsed.count() < timeout_ms || elapsed > std::chrono::milliseconds(timeout_ms) + kSlack) {
    Fail("DeadlineExceeded after " + std::to_string(elapsed.count()) + " ms, deadline " +
         std::to_string(timeout_ms) + " ms");
  }
  if (status.message().find("dense gradients") == std::string::npos) {
    Fail("message does not name the buffer: " + status.message());
  }
  dips::Status again = (*sync)->Average(gradients.data(), gradients.size(), "dense gradients");
  if (again.code() != dips::StatusCode::kFailedPrecondition) {
    Fail("a timed-out DenseSync must refuse further work, got " + again.ToString());
  }
  std::printf("TIMEOUT_OK rank=%d elapsed_ms=%lld status=%s\n", c.rank(),
              static_cast<long long>(elapsed.count()), status.ToString().c_str());
  std::fflush(stdout);
  dips::AbortJob(status, kExpectedAbortCode);
}
