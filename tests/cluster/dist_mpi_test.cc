// Runs under mpirun (tests/cluster/CMakeLists.txt launches it through
// cluster/local.sh with 1 or 2 servers). Every rank runs every test; tests of
// the dense all-reduce skip themselves on servers. Expected values are
// recomputed on each rank from deterministic per-rank inputs, so no rank
// needs another's data to check a result.
//
// Flags: --num_servers=N (passed by local.sh), --timeout_ms=MS (bound on each
// collective; a failing peer turns into a test failure, not a hang).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "worker/dist/background_average.h"
#include "worker/dist/cluster.h"
#include "worker/dist/dense_sync.h"
#include "worker/dist/mpi_session.h"

namespace dips {
namespace {

int g_num_servers = 1;
std::chrono::milliseconds g_timeout{20000};

std::unique_ptr<Cluster> MakeCluster() {
  ClusterOptions options;
  options.num_servers = g_num_servers;
  options.timeout = g_timeout;
  StatusOr<std::unique_ptr<Cluster>> cluster = Cluster::Create(options);
  CHECK(cluster.ok()) << cluster.status().ToString();
  return std::move(cluster).value();
}

std::unique_ptr<DenseSync> MakeDenseSync(const Cluster& cluster) {
  DenseSyncOptions options;
  options.timeout = g_timeout;
  StatusOr<std::unique_ptr<DenseSync>> sync = DenseSync::Create(cluster.workers(), options);
  CHECK(sync.ok()) << sync.status().ToString();
  return std::move(sync).value();
}

// A string every rank can rebuild for any other rank: its length depends on
// the rank (rank 0's is empty) and it contains NUL and high bytes.
std::string RankString(int rank) {
  std::string s;
  for (int i = 0; i < rank * 37; ++i) s.push_back(static_cast<char>((rank * 131 + i * 7) & 0xff));
  return s;
}

// Worker `worker`'s contribution to an Average of n floats.
std::vector<float> WorkerInput(int worker, size_t n, uint32_t salt) {
  std::mt19937 rng(salt * 7919u + static_cast<uint32_t>(worker));
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// True if `data` has the same bytes on every rank of `comm`.
bool SameOnAllRanks(MPI_Comm comm, const std::vector<float>& data) {
  std::vector<float> first = data;
  MPI_Bcast(first.data(), static_cast<int>(first.size()), MPI_FLOAT, 0, comm);
  int same = std::memcmp(first.data(), data.data(), data.size() * sizeof(float)) == 0;
  int all_same = 0;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, comm);
  return all_same == 1;
}

TEST(ClusterTest, AssignsRolesByRank) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(cluster->rank(), rank);
  EXPECT_EQ(cluster->world_size(), size);
  EXPECT_EQ(cluster->num_servers(), g_num_servers);
  EXPECT_EQ(cluster->num_workers(), size - g_num_servers);
  if (rank < g_num_servers) {
    EXPECT_EQ(cluster->role(), Role::kServer);
    EXPECT_EQ(cluster->server_index(), rank);
    EXPECT_EQ(cluster->worker_index(), -1);
    ASSERT_NE(cluster->servers(), MPI_COMM_NULL);
    EXPECT_EQ(cluster->workers(), MPI_COMM_NULL);
    int servers = 0;
    int index = -1;
    MPI_Comm_size(cluster->servers(), &servers);
    MPI_Comm_rank(cluster->servers(), &index);
    EXPECT_EQ(servers, g_num_servers);
    EXPECT_EQ(index, rank);
  } else {
    EXPECT_EQ(cluster->role(), Role::kWorker);
    EXPECT_EQ(cluster->worker_index(), rank - g_num_servers);
    EXPECT_EQ(cluster->server_index(), -1);
    ASSERT_NE(cluster->workers(), MPI_COMM_NULL);
    EXPECT_EQ(cluster->servers(), MPI_COMM_NULL);
    int workers = 0;
    int index = -1;
    MPI_Comm_size(cluster->workers(), &workers);
    MPI_Comm_rank(cluster->workers(), &index);
    EXPECT_EQ(workers, size - g_num_servers);
    EXPECT_EQ(index, rank - g_num_servers);
  }
  // Every rank sees every other rank's role as the rule says.
  StatusOr<std::vector<std::string>> roles = cluster->AllGather(RoleName(cluster->role()));
  ASSERT_TRUE(roles.ok()) << roles.status().ToString();
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ((*roles)[r], r < g_num_servers ? "server" : "worker") << "rank " << r;
  }
  EXPECT_TRUE(cluster->Barrier("end of AssignsRolesByRank").ok());
}

TEST(ClusterTest, RejectsImpossibleCounts) {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int servers : {0, -1, size, size + 1}) {
    ClusterOptions options;
    options.num_servers = servers;
    StatusOr<std::unique_ptr<Cluster>> cluster = Cluster::Create(options);
    ASSERT_FALSE(cluster.ok()) << "num_servers=" << servers;
    EXPECT_EQ(cluster.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ClusterTest, RejectsRanksThatDisagreeOnServerCount) {
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 3) GTEST_SKIP() << "needs 3 ranks";
  ClusterOptions options;
  options.num_servers = rank == 0 ? 1 : 2;
  options.timeout = g_timeout;
  StatusOr<std::unique_ptr<Cluster>> cluster = Cluster::Create(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.status().code(), StatusCode::kInvalidArgument) << cluster.status().ToString();
}

TEST(ClusterTest, AllGatherReturnsEveryRanksBytes) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  StatusOr<std::vector<std::string>> all = cluster->AllGather(RankString(cluster->rank()));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(static_cast<int>(all->size()), cluster->world_size());
  for (int r = 0; r < cluster->world_size(); ++r) {
    EXPECT_EQ((*all)[r], RankString(r)) << "rank " << r;
  }
}

TEST(ClusterTest, ExchangesServerEndpoints) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  auto endpoint = [](int server) { return "tcp://127.0.0.1:" + std::to_string(40000 + server); };
  // Workers pass a non-empty string to show it is ignored.
  StatusOr<std::vector<std::string>> endpoints = cluster->ExchangeServerEndpoints(
      cluster->is_server() ? endpoint(cluster->server_index()) : "worker-noise");
  ASSERT_TRUE(endpoints.ok()) << endpoints.status().ToString();
  ASSERT_EQ(static_cast<int>(endpoints->size()), g_num_servers);
  for (int s = 0; s < g_num_servers; ++s) EXPECT_EQ((*endpoints)[s], endpoint(s));

  // A server without an endpoint fails the exchange on every rank alike.
  StatusOr<std::vector<std::string>> missing = cluster->ExchangeServerEndpoints(
      cluster->server_index() == g_num_servers - 1 ? "" : "tcp://127.0.0.1:1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("server rank " + std::to_string(g_num_servers - 1)),
            std::string::npos)
      << missing.status().ToString();
}

TEST(ClusterTest, BroadcastsRankZerosSecret) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  // Every rank can rebuild the secret; only rank 0's copy is sent.
  std::string secret(64, '\0');
  std::mt19937 rng(20240611u);
  for (char& c : secret) c = static_cast<char>(rng() & 0xff);
  const std::string mine = cluster->rank() == 0 ? secret : std::string("not the secret");
  StatusOr<std::string> received = cluster->BroadcastSecret(mine);
  ASSERT_TRUE(received.ok()) << received.status().ToString();
  EXPECT_EQ(*received, secret);

  StatusOr<std::string> empty = cluster->BroadcastSecret(cluster->rank() == 0 ? "" : "x");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, "");

  const std::string huge(Cluster::kMaxSecretBytes + 1, 'k');
  StatusOr<std::string> too_large = cluster->BroadcastSecret(cluster->rank() == 0 ? huge : "");
  ASSERT_FALSE(too_large.ok());
  EXPECT_EQ(too_large.status().code(), StatusCode::kInvalidArgument);
}

TEST(DenseSyncTest, RefusesServersCommunicator) {
  StatusOr<std::unique_ptr<DenseSync>> sync = DenseSync::Create(MPI_COMM_NULL, DenseSyncOptions());
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.status().code(), StatusCode::kInvalidArgument);
}

TEST(DenseSyncTest, AverageEqualsArithmeticMean) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  if (cluster->is_server()) GTEST_SKIP() << "servers take no part in the dense all-reduce";
  std::unique_ptr<DenseSync> sync = MakeDenseSync(*cluster);
  const int workers = cluster->num_workers();
  ASSERT_EQ(sync->num_workers(), workers);
  ASSERT_EQ(sync->worker_index(), cluster->worker_index());
  int64_t floats = 0;
  uint32_t salt = 1;
  // Sizes from empty to past OpenMPI's segmented (ring) all-reduce threshold.
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{262147}}) {
    std::vector<float> data = WorkerInput(sync->worker_index(), n, salt);
    ASSERT_TRUE(sync->Average(data.data(), n, "test gradients").ok());
    // Mean in double of all workers' inputs. A float sum of W terms is off by
    // at most (W-1) * eps * sum|x_w|; after the 1/W scale (itself rounded
    // twice) the mean is within 3 * eps * sum|x_w| of the exact one.
    std::vector<double> mean(n, 0.0);
    std::vector<double> abs_sum(n, 0.0);
    for (int w = 0; w < workers; ++w) {
      std::vector<float> input = WorkerInput(w, n, salt);
      for (size_t i = 0; i < n; ++i) {
        mean[i] += input[i];
        abs_sum[i] += std::fabs(input[i]);
      }
    }
    const double eps = std::numeric_limits<float>::epsilon();
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
      mean[i] /= workers;
      const double tolerance = 3.0 * eps * abs_sum[i];
      if (std::fabs(data[i] - mean[i]) > tolerance) {
        if (++bad <= 5) ADD_FAILURE() << "n=" << n << " i=" << i << " got " << data[i]
                                      << " mean " << mean[i];
      }
    }
    EXPECT_EQ(bad, 0u) << "n=" << n;
    EXPECT_TRUE(SameOnAllRanks(cluster->workers(), data)) << "replicas differ, n=" << n;
    floats += static_cast<int64_t>(n);
    ++salt;
  }
  EXPECT_EQ(sync->stats().collectives, 5);
  EXPECT_EQ(sync->stats().floats, floats);
  EXPECT_GT(sync->stats().wait_seconds, 0.0);
}

// Max |got - mean of every worker's input| over the elements, relative to
// the bound a float sum of W terms can be off by (see the test above): <= 1
// passes.
double WorstMeanError(const std::vector<float>& got, int workers, size_t n, uint32_t salt) {
  std::vector<double> mean(n, 0.0), abs_sum(n, 0.0);
  for (int w = 0; w < workers; ++w) {
    std::vector<float> input = WorkerInput(w, n, salt);
    for (size_t i = 0; i < n; ++i) {
      mean[i] += input[i];
      abs_sum[i] += std::fabs(input[i]);
    }
  }
  double worst = 0.0;
  const double eps = std::numeric_limits<float>::epsilon();
  for (size_t i = 0; i < n; ++i) {
    const double bound = 3.0 * eps * abs_sum[i] + 1e-30;
    worst = std::max(worst, std::fabs(got[i] - mean[i] / workers) / bound);
  }
  return worst;
}

TEST(BackgroundAverageTest, AveragesOnItsThreadInTheCallersOrder) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  if (cluster->is_server()) GTEST_SKIP() << "servers take no part in the dense all-reduce";
  std::unique_ptr<DenseSync> sync = MakeDenseSync(*cluster);
  const int workers = cluster->num_workers();
  const int me = sync->worker_index();
  BackgroundAverage background(sync.get());
  EXPECT_FALSE(background.pending());
  EXPECT_TRUE(background.Finished()) << "nothing pending";
  EXPECT_TRUE(background.Wait().ok()) << "nothing pending";
  const size_t n = 5000;
  for (uint32_t round = 0; round < 4; ++round) {
    const uint32_t salt = 100 + round;
    std::vector<float> data = WorkerInput(me, n, salt);
    // The first worker is late, as a slower peer would be: the others'
    // averages wait for it on their background threads, unfinished.
    if (me == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    background.Start(data.data(), n, "background test gradients");
    EXPECT_TRUE(background.pending());
    if (me != 0) {
      EXPECT_FALSE(background.Finished()) << "round " << round;
    }
    // Finished() turns true by itself; Wait then returns at once.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!background.Finished() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(background.Finished()) << "round " << round;
    ASSERT_TRUE(background.Wait().ok());
    EXPECT_FALSE(background.pending());
    EXPECT_LE(WorstMeanError(data, workers, n, salt), 1.0) << "round " << round;
    EXPECT_TRUE(SameOnAllRanks(cluster->workers(), data)) << "round " << round;
    // A collective on the calling thread after Wait: the same order on all.
    std::vector<float> other = WorkerInput(me, 3, salt + 50);
    ASSERT_TRUE(sync->Average(other.data(), other.size(), "foreground test values").ok());
    EXPECT_LE(WorstMeanError(other, workers, 3, salt + 50), 1.0) << "round " << round;
  }
  EXPECT_EQ(sync->stats().collectives, 8);
}

TEST(DenseSyncTest, BroadcastCopiesFirstWorkersValues) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  if (cluster->is_server()) GTEST_SKIP() << "servers take no part in the dense all-reduce";
  std::unique_ptr<DenseSync> sync = MakeDenseSync(*cluster);
  const size_t n = 4099;
  std::vector<float> params = WorkerInput(sync->worker_index(), n, 99);
  ASSERT_TRUE(sync->BroadcastFromFirstWorker(params.data(), n, "initial dense").ok());
  EXPECT_EQ(params, WorkerInput(0, n, 99));
}

TEST(DenseSyncTest, BroadcastRejectsDifferentSizesOnEveryWorker) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  if (cluster->is_server()) GTEST_SKIP() << "servers take no part in the dense all-reduce";
  if (cluster->num_workers() < 2) GTEST_SKIP() << "needs 2 workers";
  std::unique_ptr<DenseSync> sync = MakeDenseSync(*cluster);
  const size_t n = sync->worker_index() == 0 ? 16 : 17;
  std::vector<float> params(n, 1.0f);
  Status status = sync->BroadcastFromFirstWorker(params.data(), n, "mismatched");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("from 16 to 17"), std::string::npos) << status.ToString();
  // The failure is a disagreement, not a broken DenseSync: it keeps working.
  std::vector<float> ok(8, 2.0f);
  EXPECT_TRUE(sync->Average(ok.data(), ok.size(), "after mismatch").ok());
  EXPECT_EQ(ok, std::vector<float>(8, 2.0f));
}

TEST(DenseSyncTest, AnyWorkerIsTrueEverywhereIffTrueSomewhere) {
  std::unique_ptr<Cluster> cluster = MakeCluster();
  if (cluster->is_server()) GTEST_SKIP() << "servers take no part in the dense all-reduce";
  std::unique_ptr<DenseSync> sync = MakeDenseSync(*cluster);
  const int me = sync->worker_index();
  // Nobody, only the last worker, only the first, everybody.
  const int last = sync->num_workers() - 1;
  const struct { bool mine; bool want; } cases[] = {
      {false, false}, {me == last, true}, {me == 0, true}, {true, true}};
  for (const auto& c : cases) {
    StatusOr<bool> any = sync->AnyWorker(c.mine, "test decision");
    ASSERT_TRUE(any.ok()) << any.status().ToString();
    EXPECT_EQ(c.want, *any) << "mine " << c.mine;
  }
  EXPECT_EQ(sync->stats().collectives, 4);
}

TEST(MpiSessionTest, SecondInitIsRefused) {
  StatusOr<std::unique_ptr<MpiSession>> again = MpiSession::Init(nullptr, nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--num_servers=", 0) == 0) {
      dips::g_num_servers = std::atoi(arg.c_str() + 14);
    } else if (arg.rfind("--timeout_ms=", 0) == 0) {
      dips::g_timeout = std::chrono::milliseconds(std::atol(arg.c_str() + 13));
    } else {
      std::fprintf(stderr, "dist_mpi_test: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  int failed_everywhere = 1;
  int rank = -1;
  int size = 0;
  {
    dips::StatusOr<std::unique_ptr<dips::MpiSession>> session =
        dips::MpiSession::Init(&argc, &argv);
    if (!session.ok()) {
      std::fprintf(stderr, "dist_mpi_test: %s\n", session.status().ToString().c_str());
      return 2;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int failed = RUN_ALL_TESTS() != 0;
    MPI_Allreduce(&failed, &failed_everywhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  }
  std::printf("dist_mpi_test: rank %d of %d (%d servers): %s\n", rank, size, dips::g_num_servers,
              failed_everywhere ? "FAILED on some rank" : "all tests passed on all ranks");
  return failed_everywhere ? 1 : 0;
}
