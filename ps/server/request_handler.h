// RequestHandler: what a server thread does with one request. It
// checks the request against the wire protocol, calls the table and builds
// the reply; it never touches a socket, so its rules can be read (and
// tested) apart from the transport. Internal to ps/server.
//
// Thread-safety: Handle may be called from several worker threads at once;
// the table is thread-safe and the barrier/shutdown bookkeeping is locked.
#ifndef DIPS_PS_SERVER_REQUEST_HANDLER_H_
#define DIPS_PS_SERVER_REQUEST_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "proto/ps_wire.h"
#include "ps/checkpoint/shard_checkpoint.h"
#include "ps/server/ps_server.h"
#include "ps/sparse_table.h"

namespace dips {

// A ZeroMQ message as the ROUTER sees it: the peer's identity frame first.
using Multipart = std::vector<zmq::message_t>;

// Counters the worker threads and the socket loop bump concurrently.
struct ServerCounterCells {
  std::atomic<uint64_t> requests_served{0};
  std::atomic<uint64_t> requests_rejected{0};
  std::atomic<uint64_t> handshake_failures{0};
  std::atomic<uint64_t> auth_denied{0};

  PsServerCounters Snapshot() const;
};

class RequestHandler {
 public:
  // `table` and `counters` are borrowed. From `options`: expected_clients,
  // max_message_bytes (replies larger are refused with ResourceExhausted)
  // and the checkpoint fields.
  RequestHandler(SparseTable* table, const PsServerOptions& options,
                 ServerCounterCells* counters);

  // Handles one request (identity, header, bulk frames; consumed) and appends
  // the messages to send to `out`, each starting with its peer's identity:
  // usually one reply, none while a barrier waits for more clients, and one
  // per waiting client when a barrier opens. A message without even a header
  // frame is dropped and counted. Returns true once every expected client
  // has sent SHUTDOWN (the server should then stop).
  bool Handle(Multipart& request, std::vector<Multipart>* out);

  // Whether `request` may keep its thread busy for long, so the socket loop
  // must not handle it itself: a CHECKPOINT (writes the whole shard), and a
  // PULL, PUSH or PUSH_PULL when the table has a disk tier (may wait on
  // RocksDB reads, which the worker threads then overlap).
  bool MayRunLong(const Multipart& request) const;

 private:
  Status Pull(const wire::RequestHeader& header, Multipart& request, Multipart* reply);
  Status Push(const wire::RequestHeader& header, Multipart& request);
  // The push, then the pull that sees it; nothing applied unless both
  // halves are well formed.
  Status PushPull(const wire::RequestHeader& header, Multipart& request, Multipart* reply);
  // The checks and the table calls those three share. A push's frames are
  // request[2..4]; the pull's keys are one frame of n keys.
  Status CheckDim(const wire::RequestHeader& header) const;
  Status CheckPull(const wire::RequestHeader& header, uint64_t n,
                   const zmq::message_t& keys) const;
  Status ReadRows(const wire::RequestHeader& header, uint64_t n, const zmq::message_t& keys,
                  Multipart* reply);
  Status CheckPush(const wire::RequestHeader& header, const Multipart& request) const;
  Status ApplyPush(const wire::RequestHeader& header, const Multipart& request);
  void FillStats(wire::ResponseHeader* response) const;
  // Writes this shard's row file into the named checkpoint directory.
  Status Checkpoint(const wire::RequestHeader& header, wire::ResponseHeader* response);
  // Records a barrier arrival; appends every waiting reply once all arrived.
  Status Barrier(const wire::RequestHeader& header, zmq::message_t& identity,
                 const wire::ResponseHeader& response, std::vector<Multipart>* out);
  bool RecordShutdown(uint32_t client_id);

  SparseTable* const table_;
  const int expected_clients_;
  const int64_t max_reply_bytes_;
  const PsServerOptions options_;  // checkpoint root and shard identity
  ServerCounterCells* const counters_;
  // Remembers SST digests between checkpoints (shard_checkpoint.h).
  ShardCheckpointWriter checkpoint_writer_;

  std::mutex mu_;
  // Clients waiting in the current barrier, and their parked replies.
  std::set<uint32_t> barrier_clients_ GUARDED_BY(mu_);
  std::vector<Multipart> barrier_replies_ GUARDED_BY(mu_);
  std::set<uint32_t> shutdown_clients_ GUARDED_BY(mu_);
};

}  // namespace dips

#endif  // DIPS_PS_SERVER_REQUEST_HANDLER_H_
