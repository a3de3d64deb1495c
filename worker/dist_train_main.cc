// `dips dist-train`: one rank of a distributed training job. Started on
// S + W ranks by mpirun or srun (cluster/), every rank runs this same
// program: ranks 0..S-1 become parameter-server shards, the other W train
// (worker/dist/cluster.h). All `dips train` flags apply unchanged
// (worker/train_flags.h); the flags below are the distributed ones.
//
// Bootstrap, in collective order on every rank:
//   1. Cluster::Create (roles), then an all-gather of host names, which
//      decides the address the servers bind (see --server_bind_host);
//   2. rank 0 generates the job's CURVE key pairs (one for the servers, one
//      shared by the workers) and broadcasts them over MPI;
//   3. every server binds an OS-chosen port, and the endpoints are exchanged.
// Servers then serve until every worker sent SHUTDOWN and exit 0. Workers
// train their part of the data (part = worker index), averaging dense
// gradients across workers every step, and the chief (worker 0) prints the
// report.
//
// Failure: any error on any rank ends the whole job at once with AbortJob
// (MPI_Abort), so mpirun/srun exit non-zero instead of leaving ranks waiting.
// Every wait is bounded (--rpc_timeout_s, --sync_timeout_s,
// --server_idle_timeout_s); a timed-out parameter-server request is reported
// with the rank of the server that did not answer. docs/operations.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/file_io.h"
#include "ps/checkpoint/row_file.h"
#include "ps/checkpoint/shard_restore.h"
#include "ps/server/curve_keys.h"
#include "ps/server/ps_server.h"
#include "ps/sparse_table.h"
#include "ps/table_factory.h"
#include "ps/table_maintenance.h"
#include "tools/subcommands.h"
#include "worker/client/partitioner.h"
#include "worker/client/ps_client.h"
#include "worker/dist/cluster.h"
#include "worker/dist/dense_sync.h"
#include "worker/dist/mpi_session.h"
#include "worker/dist/server_address.h"
#include "worker/train/embedding_store.h"
#include "worker/train/trainer.h"
#include "worker/train_flags.h"

DEFINE_int32(num_servers, 1,
             "dist-train: the first N MPI ranks are parameter-server shards, the rest train");
DEFINE_int32(max_staleness, 0,
             "dist-train: row pushes a worker may have unacknowledged before its next step "
             "waits (0: synchronous sparse updates, as single-process training)");
DEFINE_bool(prefetch_rows, true,
            "dist-train: with --max_staleness >= 1, pull each batch's rows while the step "
            "before it computes");
DEFINE_bool(push_with_pull, true,
            "dist-train: with --prefetch_rows, send each step's row push in the same request "
            "as the next batch's pull (PUSH_PULL), without waiting for the push's answer");
DEFINE_bool(overlap_dense_sync, true,
            "dist-train: with --max_staleness >= 1, average each step's dense gradients "
            "across workers while the next step computes (they apply one step late)");
DEFINE_int32(server_threads, 2, "dist-train: threads per server answering requests");
DEFINE_int32(rpc_timeout_s, 60,
             "dist-train: a parameter-server request not answered within this many seconds "
             "fails the job, naming the server's rank");
DEFINE_int32(sync_timeout_s, 60,
             "dist-train: bound on MPI bootstrap steps and on each dense all-reduce (how long "
             "a worker waits for the slowest other worker)");
DEFINE_int32(server_idle_timeout_s, 600,
             "dist-train: a server that receives nothing for this long fails the job (0: "
             "never); must exceed the longest pause between a worker's requests");
DEFINE_string(server_bind_host, "",
              "dist-train: where servers bind and what they advertise: an IPv4 address, a "
              "network interface (each server uses its own address on it, e.g. eth0) or a "
              "host name; empty: 127.0.0.1 when every rank runs on one host, else the "
              "non-loopback IPv4 address this host's name resolves to");
DEFINE_bool(bind_all_interfaces, false,
            "dist-train: servers bind every interface (still advertising the address above)");
DEFINE_bool(disable_curve, false,
            "dist-train: no CURVE authentication or encryption (tests on one machine only)");
DEFINE_bool(local_socket, true,
            "dist-train: servers also listen on a Unix socket in a private directory under "
            "$TMPDIR (default /tmp), and workers on the same machine use it, with a per-job "
            "password, instead of TCP with CURVE encryption");
DEFINE_string(dump_rows_after_restore, "",
              "dist-train diagnostics: when the job resumes from a checkpoint, each server "
              "writes its whole restored table, before serving, to "
              "DIR/shard-NNNNN-of-NNNNN.rows (compare with `dips checkpoint-diff`); empty: off");

namespace dips {
namespace {

// The distributed flags as options (flags are read only in this file).
struct DistOptions {
  int num_servers = 1;
  int max_staleness = 0;
  bool prefetch_rows = true;
  bool push_with_pull = true;
  bool overlap_dense_sync = true;
  int server_threads = 2;
  std::chrono::milliseconds rpc_timeout{60000};
  std::chrono::milliseconds sync_timeout{60000};
  std::chrono::milliseconds server_idle_timeout{600000};
  std::string server_bind_host;  // empty: automatic (see the flag)
  bool bind_all_interfaces = false;
  bool disable_curve = false;
  // Where servers make the Unix socket's directory; empty: no Unix socket.
  std::string local_socket_parent = "/tmp";
  // Diagnostics: where servers dump their tables right after a restore;
  // empty: no dump.
  std::string dump_rows_after_restore;
};

StatusOr<DistOptions> DistOptionsFromFlags() {
  DistOptions o;
  if (FLAGS_num_servers < 1) return InvalidArgumentError("--num_servers must be >= 1");
  if (FLAGS_max_staleness < 0) return InvalidArgumentError("--max_staleness must be >= 0");
  if (FLAGS_server_threads < 1) return InvalidArgumentError("--server_threads must be >= 1");
  if (FLAGS_rpc_timeout_s < 1) return InvalidArgumentError("--rpc_timeout_s must be >= 1");
  if (FLAGS_sync_timeout_s < 1) return InvalidArgumentError("--sync_timeout_s must be >= 1");
  if (FLAGS_server_idle_timeout_s < 0) {
    return InvalidArgumentError("--server_idle_timeout_s must be >= 0");
  }
  o.num_servers = FLAGS_num_servers;
  o.max_staleness = FLAGS_max_staleness;
  o.prefetch_rows = FLAGS_prefetch_rows;
  o.push_with_pull = FLAGS_push_with_pull;
  o.overlap_dense_sync = FLAGS_overlap_dense_sync;
  o.server_threads = FLAGS_server_threads;
  o.rpc_timeout = std::chrono::seconds(FLAGS_rpc_timeout_s);
  o.sync_timeout = std::chrono::seconds(FLAGS_sync_timeout_s);
  o.server_idle_timeout = std::chrono::seconds(FLAGS_server_idle_timeout_s);
  o.server_bind_host = FLAGS_server_bind_host;
  o.bind_all_interfaces = FLAGS_bind_all_interfaces;
  o.disable_curve = FLAGS_disable_curve;
  const char* tmpdir = std::getenv("TMPDIR");
  o.local_socket_parent = !FLAGS_local_socket || FLAGS_disable_curve ? ""
                          : tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir
                                                                      : "/tmp";
  o.dump_rows_after_restore = FLAGS_dump_rows_after_restore;
  return o;
}

// Distributed failures are not recoverable: a collective may still be
// pending inside MPI with our buffers, so the job ends here, with every
// object still alive, rather than unwinding.
void OkOrAbort(const Status& status, std::string_view during) {
  if (!status.ok()) AbortJob(Status(status.code(), std::string(during) + ": " + status.message()));
}

template <typename T>
T ValueOrAbort(StatusOr<T> value, std::string_view during) {
  OkOrAbort(value.status(), during);
  return std::move(value).value();
}

// The job's two CURVE key pairs and the password of the servers' Unix
// sockets travel as one secret: five 40-character Z85 strings back to back
// (server public, server secret, client public, client secret, password).
// Over MPI, the job's trusted control plane (cluster.h).
struct JobKeys {
  CurveKeyPair server;
  CurveKeyPair client;
  std::string local_password;
};
constexpr size_t kZ85KeyChars = 40;
constexpr size_t kJobSecretParts = 5;

StatusOr<std::string> GenerateJobKeys() {
  ASSIGN_OR_RETURN(CurveKeyPair server, GenerateCurveKeyPair());
  ASSIGN_OR_RETURN(CurveKeyPair client, GenerateCurveKeyPair());
  // A secret key is 32 random bytes from libsodium: a fine password.
  ASSIGN_OR_RETURN(CurveKeyPair password, GenerateCurveKeyPair());
  return server.public_key + server.secret_key + client.public_key + client.secret_key +
         password.secret_key;
}

StatusOr<JobKeys> ParseJobKeys(const std::string& secret) {
  if (secret.size() != kJobSecretParts * kZ85KeyChars) {
    return InvalidArgumentError("job key secret has " + std::to_string(secret.size()) +
                                " bytes, expected " +
                                std::to_string(kJobSecretParts * kZ85KeyChars));
  }
  auto key = [&](int i) { return secret.substr(i * kZ85KeyChars, kZ85KeyChars); };
  JobKeys keys{{key(0), key(1)}, {key(2), key(3)}, key(4)};
  RETURN_IF_ERROR(ValidateCurveKeyPair(keys.server));
  RETURN_IF_ERROR(ValidateCurveKeyPair(keys.client));
  return keys;
}

// Writes every row of this server's table, never-pushed ones too, to
// dir/ShardFileName(...), for comparing a restored table with its
// checkpoint (dips checkpoint-diff). Runs before the server serves, so the
// file holds exactly what the restore produced.
void DumpRestoredRows(Cluster* cluster, const TrainerOptions& train, const std::string& dir,
                      const SparseTable& table) {
  const std::string who = "server rank " + std::to_string(cluster->rank());
  OkOrAbort(MakeDirs(dir), who + ": creating " + dir);
  RowFileOptions options;
  options.optimizer = train.table.optimizer.kind;
  options.since_step = kAllRows;
  options.shard_index = static_cast<uint32_t>(cluster->server_index());
  options.num_shards = static_cast<uint32_t>(cluster->num_servers());
  const std::string path =
      JoinPath(dir, ShardFileName(options.shard_index, options.num_shards));
  const RowFileInfo info =
      ValueOrAbort(WriteRowFile(table, options, path), who + ": dumping the restored rows");
  LOG(INFO) << who << ": dumped " << info.rows << " restored rows to " << path;
}

// A PsClient error names the shard's endpoint; shard i is served by world
// rank i, so say which rank that is (the one to look at in the logs).
Status NameServerRank(const Status& status, const std::vector<std::string>& endpoints) {
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (status.message().find(endpoints[i]) != std::string::npos) {
      return Status(status.code(), status.message() + " [server rank " + std::to_string(i) +
                                       " at " + endpoints[i] + "]");
    }
  }
  return status;
}

void RunServer(Cluster* cluster, const DistOptions& dist, const TrainerOptions& train,
               const std::string& host, const JobKeys* keys, const std::string& resume_name) {
  ShardTableOptions table_options;
  table_options.table = train.table;
  table_options.table.dim = train.model.embedding_dim;
  table_options.memory_budget_bytes = train.table_memory_budget_bytes;
  table_options.rocksdb = train.table_rocksdb;
  table_options.rocksdb.dir = JoinPath(train.table_rocksdb.dir,
                                       "shard-" + std::to_string(cluster->server_index()));
  const std::string who = "server rank " + std::to_string(cluster->rank());
  std::optional<CheckpointChain> chain;
  if (!resume_name.empty()) {
    chain = ValueOrAbort(ReadCheckpointChain(train.checkpoint.dir, resume_name),
                         who + ": reading checkpoint " + resume_name);
  }
  // Rank 0 verified every file of the chain before naming it.
  const HashPartitioner partitioner(cluster->num_servers());
  ShardRestoreOptions restore;
  restore.chain = chain ? &*chain : nullptr;
  restore.optimizer = train.table.optimizer.kind;
  restore.shard_index = static_cast<uint32_t>(cluster->server_index());
  restore.num_shards = static_cast<uint32_t>(cluster->num_servers());
  restore.owns = [&](uint64_t key) { return partitioner.Shard(key) == cluster->server_index(); };
  RestoredShard restored = ValueOrAbort(OpenRestoredShard(table_options, restore),
                                        chain ? who + ": restoring " + chain->newest_dir()
                                              : who + ": creating the server's table");
  std::unique_ptr<SparseTable> table = std::move(restored.table);
  if (chain) {
    LOG(INFO) << who << ": restored " << restored.rows << " rows of shard "
              << cluster->server_index() << "/" << cluster->num_servers() << " from "
              << chain->newest_dir() << " (written by " << chain->newest().num_shards()
              << " servers) "
              << (restored.opened_rocksdb ? "by opening the RocksDB checkpoint of the shard"
                                          : "by importing its rows")
              << " in " << restored.seconds << " s";
  }
  if (chain && !dist.dump_rows_after_restore.empty()) {
    DumpRestoredRows(cluster, train, dist.dump_rows_after_restore, *table);
  }
  TableMaintenanceOptions maintenance_options = train.table_maintenance;
  maintenance_options.name = "shard " + std::to_string(cluster->server_index());
  TableMaintenance maintenance(table.get(), maintenance_options);

  PsServerOptions options;
  options.bind_host = dist.bind_all_interfaces ? "*" : host;
  options.num_worker_threads = dist.server_threads;
  options.disable_curve = dist.disable_curve;
  if (keys != nullptr) {
    options.curve_public_key = keys->server.public_key;
    options.curve_secret_key = keys->server.secret_key;
    options.allowed_client_public_keys = {keys->client.public_key};
    options.local_socket_parent = dist.local_socket_parent;
    options.local_password = keys->local_password;
  }
  options.expected_clients = cluster->num_workers();
  options.receive_timeout_ms = dist.server_idle_timeout.count();
  options.checkpoint_root = train.checkpoint.dir;
  options.shard_index = static_cast<uint32_t>(cluster->server_index());
  options.num_shards = static_cast<uint32_t>(cluster->num_servers());
  options.table_optimizer = train.table.optimizer.kind;
  StatusOr<std::unique_ptr<PsServer>> created = PsServer::Create(options, table.get());
  if (!created.ok() && !options.local_socket_parent.empty()) {
    // The Unix socket is an optimisation: without it (an unwritable or too
    // deep $TMPDIR) the workers use TCP with CURVE. A failure of its own
    // (the TCP bind) fails the retry too and is reported as such.
    const std::string parent = options.local_socket_parent;
    const Status with_socket = created.status();
    options.local_socket_parent.clear();
    created = PsServer::Create(options, table.get());
    if (created.ok()) {
      LOG(WARNING) << who << ": serving over TCP only, no Unix socket under " << parent << ": "
                   << with_socket.ToString();
    }
  }
  std::unique_ptr<PsServer> server =
      ValueOrAbort(std::move(created), "starting the parameter server");
  ServerContact contact;
  contact.tcp = AdvertisedEndpoint(server->endpoint(), host);
  contact.local = server->local_endpoint();
  if (!contact.local.empty()) contact.boot_id = ThisKernelBootId();
  ValueOrAbort(cluster->ExchangeServerEndpoints(EncodeServerContact(contact)),
               "exchanging server endpoints");
  LOG(INFO) << "server rank " << cluster->rank() << ": shard " << cluster->server_index()
            << " serving " << contact.tcp
            << (dist.bind_all_interfaces ? " (all interfaces)" : "")
            << (dist.disable_curve ? " WITHOUT CURVE" : " (CURVE)")
            << (contact.local.empty() ? "" : " and " + contact.local + " (this machine)")
            << " for " << cluster->num_workers() << " workers";

  OkOrAbort(server->Run(), "server rank " + std::to_string(cluster->rank()));
  const PsServerCounters c = server->counters();
  LOG(INFO) << "server rank " << cluster->rank() << ": done; " << c.requests_served
            << " requests served, " << c.requests_rejected << " rejected, "
            << c.handshake_failures << " failed handshakes, " << c.auth_denied
            << " unknown client keys; " << table->Stats().rows << " rows";
}

void RunWorker(Cluster* cluster, const DistOptions& dist, TrainerOptions train,
               const JobKeys* keys) {
  // Only workers run models, so only they need the device (servers may sit
  // on machines without one).
  OkOrAbort(CheckDeviceFlag(train), "worker rank " + std::to_string(cluster->rank()));
  const std::vector<std::string> contacts =
      ValueOrAbort(cluster->ExchangeServerEndpoints(""), "exchanging server endpoints");
  const std::string boot_id = ThisKernelBootId();
  std::vector<std::string> endpoints;
  int local = 0;
  for (const std::string& text : contacts) {
    const ServerContact contact =
        ValueOrAbort(DecodeServerContact(text), "reading the servers' endpoints");
    endpoints.push_back(ChooseServerEndpoint(contact, boot_id));
    local += IsLocalEndpoint(endpoints.back()) ? 1 : 0;
  }
  const int worker = cluster->worker_index();

  PsClientOptions client_options;
  client_options.server_endpoints = endpoints;
  client_options.dim = train.model.embedding_dim;
  client_options.disable_curve = dist.disable_curve;
  if (keys != nullptr) {
    client_options.server_public_key = keys->server.public_key;
    client_options.client_public_key = keys->client.public_key;
    client_options.client_secret_key = keys->client.secret_key;
    client_options.local_password = keys->local_password;
  }
  client_options.request_timeout_ms = dist.rpc_timeout.count();
  client_options.client_id = static_cast<uint32_t>(worker);
  std::unique_ptr<PsClient> client =
      ValueOrAbort(PsClient::Create(client_options), "connecting to the parameter servers");
  std::unique_ptr<EmbeddingStore> store =
      NewPsClientStore(client.get(), train.checkpoint.timeout.count());

  DenseSyncOptions sync_options;
  sync_options.timeout = dist.sync_timeout;
  std::unique_ptr<DenseSync> dense_sync = ValueOrAbort(
      DenseSync::Create(cluster->workers(), sync_options), "creating the dense all-reduce");

  train.store = store.get();
  train.dense_sync = dense_sync.get();
  train.max_staleness = dist.max_staleness;
  train.prefetch_rows = dist.prefetch_rows;
  train.push_with_pull = dist.push_with_pull;
  train.overlap_dense_sync = dist.overlap_dense_sync;
  train.is_chief = worker == 0;
  train.reader.part_index = worker;
  train.reader.num_parts = cluster->num_workers();
  LOG(INFO) << "worker " << worker << " (rank " << cluster->rank() << ") of "
            << cluster->num_workers() << ": data part " << worker << ", "
            << endpoints.size() << " servers (" << local << " through Unix sockets), "
            << "max_staleness " << dist.max_staleness;

  const std::string who = "worker " + std::to_string(worker) + " (rank " +
                          std::to_string(cluster->rank()) + ")";
  std::unique_ptr<Trainer> trainer =
      ValueOrAbort(Trainer::Create(train), who + ": creating the trainer");
  StatusOr<TrainReport> report = trainer->Train();
  if (!report.ok()) OkOrAbort(NameServerRank(report.status(), endpoints), who + ": training");
  if (train.is_chief) PrintTrainReport(*report, train);
  OkOrAbort(NameServerRank(client->Shutdown(), endpoints), who + ": shutting down");
  const DenseSyncStats& s = dense_sync->stats();
  LOG(INFO) << who << ": done; " << s.collectives << " dense collectives, "
            << s.wait_seconds << " s waiting in them";
}

// Everything after MPI is up; returns only on success.
void RunRank(const DistOptions& dist, TrainerOptions train) {
  ClusterOptions cluster_options;
  cluster_options.num_servers = dist.num_servers;
  cluster_options.timeout = dist.sync_timeout;
  const bool resuming = train.checkpoint.resume && !train.checkpoint.dir.empty();
  // Resuming, rank 0 verifies the checkpoint and servers load it during the
  // bootstrap, while the other ranks wait in its collectives.
  if (resuming) cluster_options.timeout = std::max(dist.sync_timeout, train.checkpoint.timeout);
  std::unique_ptr<Cluster> cluster =
      ValueOrAbort(Cluster::Create(cluster_options), "forming the cluster");
  const std::string host =
      ValueOrAbort(ChooseServerHost(cluster.get(), dist.server_bind_host), "choosing the server address");

  std::string secret;
  if (cluster->rank() == 0 && !dist.disable_curve) {
    secret = ValueOrAbort(GenerateJobKeys(), "generating the job's CURVE keys");
  }
  secret = ValueOrAbort(cluster->BroadcastSecret(secret), "distributing the job's keys");
  std::unique_ptr<JobKeys> keys;
  if (!dist.disable_curve) {
    keys = std::make_unique<JobKeys>(ValueOrAbort(ParseJobKeys(secret), "reading the job's keys"));
  }

  // Which checkpoint to resume from: rank 0 checks every file of the
  // candidates (skipping damaged ones) and tells everyone, so all ranks load
  // the same one. Empty: none yet, a fresh start.
  std::string resume_name;
  if (resuming) {
    if (cluster->rank() == 0) {
      StatusOr<CheckpointChain> chain = FindLatestCheckpoint(train.checkpoint.dir);
      if (chain.ok()) {
        resume_name = chain->names.back();
      } else if (chain.status().code() != StatusCode::kNotFound) {
        OkOrAbort(chain.status(), "choosing the checkpoint to resume from");
      }
      LOG(INFO) << "resume: " << (resume_name.empty() ? "no checkpoint yet, starting fresh"
                                                      : "from " + resume_name);
    }
    resume_name = ValueOrAbort(cluster->BroadcastSecret(resume_name),
                               "agreeing on the checkpoint to resume from");
  }
  if (cluster->is_server()) {
    RunServer(cluster.get(), dist, train, host, keys.get(), resume_name);
  } else {
    train.checkpoint.resume = !resume_name.empty();
    train.checkpoint.resume_name = resume_name;
    RunWorker(cluster.get(), dist, train, keys.get());
  }
}

}  // namespace

int RunDistTrain(int argc, char** argv) {
  if (argc > 1) {
    LOG(ERROR) << "dips dist-train takes no positional arguments (got '" << argv[1] << "')";
    return 2;
  }
  // Flag errors are found identically on every rank, before MPI starts, so
  // each rank exits 2 by itself and the launcher reports the failure.
  StatusOr<TrainerOptions> train = TrainerOptionsFromFlags();
  if (!train.ok()) {
    LOG(ERROR) << train.status().ToString();
    return 2;
  }
  StatusOr<DistOptions> dist = DistOptionsFromFlags();
  if (!dist.ok()) {
    LOG(ERROR) << dist.status().ToString();
    return 2;
  }
  StatusOr<std::unique_ptr<MpiSession>> session = MpiSession::Init(&argc, &argv);
  if (!session.ok()) {
    LOG(ERROR) << "starting MPI: " << session.status().ToString();
    return 1;
  }
  RunRank(*dist, *train);
  return 0;
}

}  // namespace dips
