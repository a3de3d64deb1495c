// ClientIo: the client's one I/O thread. It owns a DEALER socket per shard,
// sends the shard requests callers queue, matches replies to requests by
// request id, writes pulled rows into the callers' buffers, and fails
// requests whose deadline passes. Internal to worker/client.
//
// Thread-safety: Submit may be called from any thread.
#ifndef DIPS_WORKER_CLIENT_CLIENT_IO_H_
#define DIPS_WORKER_CLIENT_CLIENT_IO_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "proto/ps_wire.h"
#include "proto/socket_poller.h"
#include "worker/client/ps_client.h"
#include "worker/client/ticket_book.h"

namespace dips {

// One request to one shard, built by the caller's thread.
struct ShardRequest {
  Ticket ticket = 0;
  // PUSH_PULL: the push's ticket, completed with `ticket` (the pull's).
  Ticket push_ticket = 0;
  int shard = 0;
  wire::RequestKind kind = wire::REQUEST_KIND_UNSPECIFIED;
  uint64_t request_id = 0;
  std::vector<zmq::message_t> frames;  // header, then bulk frames

  // PULL, PUSH_PULL: reply row j goes to values[positions[j] * dim] (to row offset + j
  // when positions is empty), count j likewise to counts if counts is set.
  uint64_t num_keys = 0;
  std::vector<uint32_t> positions;
  uint64_t offset = 0;
  float* values = nullptr;
  uint64_t* counts = nullptr;
  // STATS: where the shard's report goes.
  ShardStats* stats = nullptr;
  // CHECKPOINT: where the shard's description of what it wrote goes.
  ShardCheckpointReply* shard_file = nullptr;
  // How long the shard may take to answer; 0 = request_timeout_ms.
  int64_t timeout_ms = 0;
};

class ClientIo {
 public:
  // `tickets` is borrowed and completed as requests finish.
  ClientIo(const PsClientOptions& options, TicketBook* tickets);
  // Stops the thread; requests still in flight complete with Unavailable.
  ~ClientIo();

  // Creates the sockets and starts the thread. Internal/Unavailable on
  // socket errors.
  Status Start();

  // Queues requests for sending; each completes its ticket once.
  void Submit(std::vector<ShardRequest> requests);

 private:
  struct Pending {
    ShardRequest request;
    std::chrono::steady_clock::time_point deadline;
  };
  enum class SendResult { kSent, kWouldBlock, kFailed };

  void Loop();
  void SendQueued();
  // Sends as many of `shard`'s waiting requests as its socket takes, oldest
  // first.
  void SendWaiting(int shard);
  SendResult TrySend(Pending& pending);
  void ReceiveFrom(int shard);
  Status ReadReply(int shard, std::vector<zmq::message_t>& reply, uint64_t* request_id);
  Status DeliverPull(const Pending& pending, std::vector<zmq::message_t>& reply);
  void ExpireDeadlines();
  void Finish(uint64_t request_id, const Status& status);
  std::string ShardName(int shard) const;

  const PsClientOptions options_;
  TicketBook* const tickets_;
  zmq::context_t context_{1};
  std::vector<zmq::socket_t> sockets_;  // owned by the I/O thread once started
  SocketPoller poller_;                  // the I/O thread's: sockets_, then wake_fd_
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  std::mutex queue_mu_;
  std::vector<ShardRequest> queue_ GUARDED_BY(queue_mu_);
  // Only the I/O thread touches these.
  std::unordered_map<uint64_t, Pending> pending_;  // sent or waiting to be sent
  // Per shard, ids in pending_ not yet taken by the socket, oldest first
  // (a full send queue, or no connection: the handshake was refused). Ids
  // that expired meanwhile are skipped.
  std::vector<std::deque<uint64_t>> unsent_;
  uint64_t stale_replies_ = 0;  // replies to requests that already timed out
};

}  // namespace dips

#endif  // DIPS_WORKER_CLIENT_CLIENT_IO_H_
