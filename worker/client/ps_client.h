// PsClient: a worker's asynchronous connection to every parameter-server
// shard (ps-lite's KVWorker, in spirit). Pull and Push split the keys by
// shard (Partitioner), send every shard's request at once and return a
// Ticket at once; Wait(ticket) blocks until every shard answered, failed or
// timed out, and returns the first error. Rows come back into the caller's
// buffer in the caller's key order.
//
// Ownership: Pull writes values/counts until its Wait returns, so those
// buffers must stay alive until then. Push copies keys, gradients and
// occurrences before it returns; the caller may reuse them immediately.
// Every ticket must be waited for exactly once.
//
// Timeouts: a shard request not answered within request_timeout_ms fails
// with DeadlineExceeded naming the shard's endpoint; a reply that arrives
// later is ignored. A timed-out PUSH may still be applied by a server that
// was only slow; one that never connected (stopped, wrong CURVE key) applies
// nothing.
//
// Thread-safety: all methods may be called from any number of threads. One
// background thread owns the sockets (ZeroMQ sockets are single-threaded).
#ifndef DIPS_WORKER_CLIENT_PS_CLIENT_H_
#define DIPS_WORKER_CLIENT_PS_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/client/partitioner.h"

namespace dips {

// Whether `endpoint` names a Unix socket ("ipc://...").
inline bool IsLocalEndpoint(const std::string& endpoint) {
  return endpoint.rfind("ipc://", 0) == 0;
}

struct PsClientOptions {
  // One endpoint per shard, e.g. "tcp://10.0.0.5:40123"; shard i is
  // server_endpoints[i]. An "ipc://" endpoint is a server's Unix socket on
  // this machine (PsServerOptions::local_socket_parent), reached with
  // local_password instead of CURVE.
  std::vector<std::string> server_endpoints;
  int dim = 18;  // floats per row; every server must agree

  // CURVE (docs/wire_protocol.md, "Security"): the job's server public key
  // and this client's key pair, as Z85 text. Required unless disable_curve.
  std::string server_public_key;
  std::string client_public_key;
  std::string client_secret_key;
  bool disable_curve = false;  // only against servers that also disable it
  // The job's password for servers' Unix sockets; required when an endpoint
  // is "ipc://" (and then not with disable_curve).
  std::string local_password;

  int64_t request_timeout_ms = 60000;  // per shard request, > 0
  // A pull or push of more keys than this for one shard goes out as several
  // requests of at most this many keys. The server's threads then answer
  // them in parallel, and one part's table work overlaps another's transfer
  // (docs/results.md, "Chunked requests"). 0: never split.
  size_t max_keys_per_request = 8192;
  // Distinct per worker of a job: servers count BARRIER and SHUTDOWN callers
  // by it.
  uint32_t client_id = 0;
  // Null: HashPartitioner over server_endpoints.size() shards.
  std::shared_ptr<const Partitioner> partitioner;
};

// InvalidArgument for missing endpoints, dim out of [1, 65536], a
// non-positive timeout, a partitioner whose shard count differs from the
// endpoints', or invalid CURVE keys.
Status ValidatePsClientOptions(const PsClientOptions& options);

// Identifies an operation in flight; 0 is never a valid ticket.
using Ticket = uint64_t;

// The arguments of a Push and of a Pull (PsClient::PushThenPull).
struct PushArgs {
  const uint64_t* keys = nullptr;
  size_t n = 0;
  const float* grads = nullptr;          // [n x dim], summed per key
  const uint32_t* occurrences = nullptr;  // [n] or null
  int64_t step = 0;
};
struct PullArgs {
  const uint64_t* keys = nullptr;
  size_t n = 0;
  bool create_missing = true;
  float* values = nullptr;    // [n x dim]
  uint64_t* counts = nullptr;  // [n] or null
};
struct PushPullTickets {
  Ticket push = 0;
  Ticket pull = 0;
};

// What one shard reports (wire::TableStats + wire::ServerCounters).
struct ShardStats {
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t pulls = 0;
  uint64_t pushes = 0;
  uint64_t rows_created = 0;
  // Tiers, admission and eviction (SparseTableStats; docs/tables.md).
  uint64_t rows_in_memory = 0;
  uint64_t rows_on_disk = 0;
  uint64_t disk_bytes = 0;
  uint64_t memory_hits = 0;
  uint64_t memory_misses = 0;
  uint64_t disk_loads = 0;
  uint64_t spills = 0;
  uint64_t admissions = 0;
  uint64_t unadmitted_pulls = 0;
  uint64_t unadmitted_pushes = 0;
  uint64_t evictions = 0;
  uint64_t shrink_passes = 0;
  int64_t latest_step = -1;
  uint64_t requests_served = 0;
  uint64_t requests_rejected = 0;
  uint64_t handshake_failures = 0;
  uint64_t auth_denied = 0;
};

// What a shard wrote for a CHECKPOINT request (wire::ShardCheckpoint): one
// row file, or the files of a RocksDB checkpoint holding every row of the
// shard (rocksdb_dir set).
struct ShardCheckpointReply {
  struct File {
    std::string name;  // relative to the checkpoint directory
    uint64_t bytes = 0;
    uint32_t crc32 = 0;
    uint64_t rows = 0;
  };
  std::vector<File> files;
  std::string rocksdb_dir;
  std::string column_family;
  uint64_t rows = 0;
};

class PsClient {
 public:
  // Connects (lazily, as ZeroMQ does) to every shard; no server needs to be
  // up yet. InvalidArgument for options failing ValidatePsClientOptions.
  static StatusOr<std::unique_ptr<PsClient>> Create(const PsClientOptions& options);
  // Tickets not yet waited for are abandoned; their buffers are no longer
  // written once the destructor returns.
  virtual ~PsClient() = default;

  virtual int num_shards() const = 0;
  virtual const std::string& endpoint(int shard) const = 0;

  // Rows of keys[0..n) into values[i*dim ...], and occurrence counts into
  // counts[i] if counts is not null. Missing rows are created on the server
  // when create_missing (training) and only computed otherwise (evaluation).
  // Keys need not be sorted; duplicates are fetched twice.
  virtual Ticket Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                      uint64_t* counts) = 0;
  // Applies grads[i*dim ...] (summed per key) to each key's row on its
  // server and adds occurrences[i] (may be null) to its count; the rows are
  // stamped with `step`.
  virtual Ticket Push(const uint64_t* keys, size_t n, const float* grads,
                      const uint32_t* occurrences, int64_t step) = 0;
  // A Push, then a Pull whose rows include that push on every shard, as if
  // the pull were sent once the push was acknowledged, but without waiting:
  // a shard with keys of both gets one PUSH_PULL request (whatever
  // max_keys_per_request says, since its order is the point), the other
  // shards plain pushes or pulls. Ownership and the two tickets as for
  // Push and Pull; a shard's failed PUSH_PULL fails both.
  virtual PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) = 0;
  // Blocks until the ticket's requests all finished. InvalidArgument for an
  // unknown (or already waited) ticket; otherwise the first shard error.
  virtual Status Wait(Ticket ticket) = 0;

  virtual StatusOr<ShardStats> Stats(int shard) = 0;
  // Blocks until expected_clients clients (by client_id) reached the
  // barrier; counted on shard 0. Subject to request_timeout_ms.
  virtual Status Barrier() = 0;
  // Asks every shard at once to write its rows updated after since_step
  // (-1: all pushed rows) into checkpoint `name` under the server's own
  // checkpoint root, and waits up to timeout_ms (> 0) for all of them.
  // Returns one entry per shard, in shard order. The caller must have
  // quiesced pushes for the checkpoint to be consistent.
  virtual StatusOr<std::vector<ShardCheckpointReply>> Checkpoint(const std::string& name,
                                                                int64_t since_step,
                                                                int64_t timeout_ms) = 0;
  // Tells every shard this client is done; a server stops once all its
  // expected clients said so. Returns when every shard acknowledged.
  virtual Status Shutdown() = 0;
};

}  // namespace dips

#endif  // DIPS_WORKER_CLIENT_PS_CLIENT_H_
