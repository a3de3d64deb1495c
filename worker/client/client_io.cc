#include "worker/client/client_io.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <zmq_addon.hpp>

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;
// Deadlines are checked at least this often while requests are in flight.
constexpr int kMaxPollMs = 100;
constexpr int kMaxReceiveBurst = 64;
// A shard whose socket refused a request is offered it again this often.
constexpr int kResendPollMs = 5;

void FillShardStats(const wire::ResponseHeader& header, ShardStats* stats) {
  stats->rows = header.table_stats().rows();
  stats->bytes = header.table_stats().bytes();
  stats->pulls = header.table_stats().pulls();
  stats->pushes = header.table_stats().pushes();
  stats->rows_created = header.table_stats().rows_created();
  const wire::TableStats& t = header.table_stats();
  stats->rows_in_memory = t.rows_in_memory();
  stats->rows_on_disk = t.rows_on_disk();
  stats->disk_bytes = t.disk_bytes();
  stats->memory_hits = t.memory_hits();
  stats->memory_misses = t.memory_misses();
  stats->disk_loads = t.disk_loads();
  stats->spills = t.spills();
  stats->admissions = t.admissions();
  stats->unadmitted_pulls = t.unadmitted_pulls();
  stats->unadmitted_pushes = t.unadmitted_pushes();
  stats->evictions = t.evictions();
  stats->shrink_passes = t.shrink_passes();
  stats->latest_step = t.latest_step();
  stats->requests_served = header.counters().requests_served();
  stats->requests_rejected = header.counters().requests_rejected();
  stats->handshake_failures = header.counters().handshake_failures();
  stats->auth_denied = header.counters().auth_denied();
}

}  // namespace

ClientIo::ClientIo(const PsClientOptions& options, TicketBook* tickets)
    : options_(options), tickets_(tickets) {}

ClientIo::~ClientIo() {
  if (thread_.joinable()) {
    stop_.store(true);
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status ClientIo::Start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return InternalError(std::string("eventfd: ") + std::strerror(errno));
  try {
    for (const std::string& endpoint : options_.server_endpoints) {
      zmq::socket_t socket(context_, zmq::socket_type::dealer);
      // Requests to a dead server are dropped on close, not kept.
      socket.set(zmq::sockopt::linger, 0);
      if (IsLocalEndpoint(endpoint)) {
        // The server's Unix socket: the kernel keeps the bytes on this
        // machine, the password proves the job (validated in ps_client.cc).
        socket.set(zmq::sockopt::plain_username, "dips");
        socket.set(zmq::sockopt::plain_password, options_.local_password);
      } else if (!options_.disable_curve) {
        socket.set(zmq::sockopt::curve_serverkey, options_.server_public_key);
        socket.set(zmq::sockopt::curve_publickey, options_.client_public_key);
        socket.set(zmq::sockopt::curve_secretkey, options_.client_secret_key);
      }
      socket.connect(endpoint);
      sockets_.push_back(std::move(socket));
    }
    unsent_.resize(sockets_.size());
  } catch (const zmq::error_t& e) {
    return UnavailableError(std::string("connecting to parameter servers: ") + e.what());
  }
  // The sockets move to the I/O thread here; thread creation is the memory
  // barrier ZeroMQ asks for when a socket changes threads.
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void ClientIo::Submit(std::vector<ShardRequest> requests) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (ShardRequest& r : requests) queue_.push_back(std::move(r));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

std::string ClientIo::ShardName(int shard) const {
  return "shard " + std::to_string(shard) + " (" + options_.server_endpoints[shard] + ")";
}

void ClientIo::Loop() {
  // Shard s is the poller's item s (TrySend marks it used).
  for (zmq::socket_t& s : sockets_) poller_.AddSocket(s.handle());
  const size_t wake = poller_.AddFd(wake_fd_);
  while (!stop_.load()) {
    SendQueued();
    long timeout_ms = pending_.empty() ? -1 : kMaxPollMs;
    for (const std::deque<uint64_t>& waiting : unsent_) {
      if (!waiting.empty()) timeout_ms = std::min<long>(timeout_ms, kResendPollMs);
    }
    for (const auto& [id, p] : pending_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - Clock::now());
      timeout_ms = std::min<long>(timeout_ms, std::max<long>(0, left.count() + 1));
    }
    try {
      poller_.Wait(std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      LOG(ERROR) << "parameter-server client poll: " << e.what();
      break;
    }
    if (poller_.readable(wake)) {
      uint64_t ignored;
      (void)!read(wake_fd_, &ignored, sizeof(ignored));
    }
    for (size_t s = 0; s < sockets_.size(); ++s) {
      if (poller_.readable(s)) ReceiveFrom(static_cast<int>(s));
    }
    ExpireDeadlines();
  }
  // Nothing will answer these any more; callers must not wait forever.
  std::vector<uint64_t> ids;
  for (const auto& [id, p] : pending_) ids.push_back(id);
  for (uint64_t id : ids) Finish(id, UnavailableError("parameter-server client closed"));
  std::vector<ShardRequest> queued;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queued.swap(queue_);
  }
  for (ShardRequest& r : queued) {
    const Status closed = UnavailableError("parameter-server client closed");
    tickets_->Complete(r.ticket, closed);
    if (r.push_ticket != 0) tickets_->Complete(r.push_ticket, closed);
  }
  sockets_.clear();
}

void ClientIo::SendQueued() {
  for (size_t shard = 0; shard < unsent_.size(); ++shard) SendWaiting(static_cast<int>(shard));
  std::vector<ShardRequest> queued;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queued.swap(queue_);
  }
  const auto now = Clock::now();
  for (ShardRequest& r : queued) {
    const auto deadline = now + std::chrono::milliseconds(r.timeout_ms > 0 ? r.timeout_ms
                                                          : options_.request_timeout_ms);
    const uint64_t id = r.request_id;
    const int shard = r.shard;
    Pending& pending = pending_.emplace(id, Pending{std::move(r), deadline}).first->second;
    // Behind a shard's waiting requests, to keep its requests in order.
    if (!unsent_[shard].empty()) {
      unsent_[shard].push_back(id);
      continue;
    }
    if (TrySend(pending) == SendResult::kWouldBlock) unsent_[shard].push_back(id);
  }
}

void ClientIo::SendWaiting(int shard) {
  std::deque<uint64_t>& waiting = unsent_[shard];
  while (!waiting.empty()) {
    auto it = pending_.find(waiting.front());
    if (it != pending_.end() && TrySend(it->second) == SendResult::kWouldBlock) return;
    waiting.pop_front();
  }
}

// A socket that will not take a request now (a full send queue, or a shard
// whose handshake failed and so has no connection) keeps it waiting rather
// than failing it at once: it is then answered, or fails at its deadline
// with the message that names the likely causes, whatever the timing.
ClientIo::SendResult ClientIo::TrySend(Pending& pending) {
  ShardRequest& r = pending.request;
  // Sending may take in the socket's commands, so the poller must ask it.
  poller_.MarkUsed(static_cast<size_t>(r.shard));
  try {
    if (!zmq::send_multipart(sockets_[r.shard], r.frames, zmq::send_flags::dontwait)) {
      return SendResult::kWouldBlock;
    }
  } catch (const zmq::error_t& e) {
    Finish(r.request_id, UnavailableError(ShardName(r.shard) + ": send failed: " + e.what()));
    return SendResult::kFailed;
  }
  r.frames.clear();
  return SendResult::kSent;
}

void ClientIo::ReceiveFrom(int shard) {
  for (int i = 0; i < kMaxReceiveBurst; ++i) {
    std::vector<zmq::message_t> reply;
    try {
      if (!zmq::recv_multipart(sockets_[shard], std::back_inserter(reply),
                               zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t& e) {
      LOG(ERROR) << ShardName(shard) << ": receive failed: " << e.what();
      return;
    }
    uint64_t request_id = 0;
    const Status status = ReadReply(shard, reply, &request_id);
    if (request_id != 0) Finish(request_id, status);
  }
}

// Parses and delivers one reply; sets *request_id to the request it answers
// (0 when it answers nothing we are waiting for).
Status ClientIo::ReadReply(int shard, std::vector<zmq::message_t>& reply,
                           uint64_t* request_id) {
  wire::ResponseHeader header;
  if (reply.empty() ||
      !header.ParseFromArray(reply[0].data(), static_cast<int>(reply[0].size())) ||
      header.magic() != kPsMagic) {
    LOG(WARNING) << ShardName(shard) << " sent an unreadable reply; dropped";
    return Status::OK();
  }
  auto it = pending_.find(header.request_id());
  if (it == pending_.end() || it->second.request.shard != shard) {
    ++stale_replies_;
    // Also the answer to a request the server could not parse (id 0).
    if (!WireStatus(header).ok()) {
      LOG(WARNING) << ShardName(shard) << " rejected an unknown request: "
                   << WireStatus(header).ToString();
    }
    return Status::OK();
  }
  *request_id = header.request_id();
  const Pending& pending = it->second;
  if (header.version() != kPsProtocolVersion) {
    return FailedPreconditionError(ShardName(shard) + " speaks protocol version " +
                                   std::to_string(header.version()));
  }
  Status status = WireStatus(header);
  if (!status.ok()) {
    return Status(status.code(), ShardName(shard) + ": " + status.message());
  }
  if (header.kind() != pending.request.kind) {
    return CorruptionError(ShardName(shard) + " answered " + RequestKindName(header.kind()) +
                           " to " + RequestKindName(pending.request.kind));
  }
  switch (pending.request.kind) {
    case wire::PULL:
    case wire::PUSH_PULL:
      return DeliverPull(pending, reply);
    case wire::STATS:
      FillShardStats(header, pending.request.stats);
      return Status::OK();
    case wire::CHECKPOINT: {
      const wire::ShardCheckpoint& in = header.shard_checkpoint();
      if (in.files_size() == 0) {
        return CorruptionError(ShardName(shard) + ": CHECKPOINT reply lists no files");
      }
      ShardCheckpointReply* out = pending.request.shard_file;
      out->rocksdb_dir = in.rocksdb_dir();
      out->column_family = in.column_family();
      out->rows = in.rows();
      for (const wire::ShardFile& f : in.files()) {
        out->files.push_back(ShardCheckpointReply::File{f.name(), f.bytes(), f.crc32(), f.rows()});
      }
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

Status ClientIo::DeliverPull(const Pending& pending, std::vector<zmq::message_t>& reply) {
  const ShardRequest& r = pending.request;
  const size_t dim = static_cast<size_t>(options_.dim);
  const size_t expected_frames = r.counts != nullptr ? 3 : 2;
  const uint64_t row_bytes = dim * kValueBytes;
  if (reply.size() != expected_frames || reply[1].size() != r.num_keys * row_bytes ||
      (r.counts != nullptr && reply[2].size() != r.num_keys * kCountBytes)) {
    return CorruptionError(ShardName(r.shard) + ": " + RequestKindName(r.kind) +
                           " reply frames do not match " +
                           std::to_string(r.num_keys) + " keys of dim " + std::to_string(dim));
  }
  const char* rows = static_cast<const char*>(reply[1].data());
  const char* counts = r.counts != nullptr ? static_cast<const char*>(reply[2].data()) : nullptr;
  if (r.positions.empty()) {
    std::memcpy(r.values + r.offset * dim, rows, reply[1].size());
    if (counts != nullptr) std::memcpy(r.counts + r.offset, counts, reply[2].size());
    return Status::OK();
  }
  for (uint64_t j = 0; j < r.num_keys; ++j) {
    const size_t to = r.positions[j];
    std::memcpy(r.values + to * dim, rows + j * row_bytes, row_bytes);
    if (counts != nullptr) std::memcpy(r.counts + to, counts + j * kCountBytes, kCountBytes);
  }
  return Status::OK();
}

void ClientIo::ExpireDeadlines() {
  const auto now = Clock::now();
  std::vector<uint64_t> expired;
  for (const auto& [id, p] : pending_) {
    if (p.deadline <= now) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    const ShardRequest& r = pending_.at(id).request;
    Finish(id, DeadlineExceededError(
                   ShardName(r.shard) + " did not answer " + RequestKindName(r.kind) +
                   " within " +
                   std::to_string(r.timeout_ms > 0 ? r.timeout_ms : options_.request_timeout_ms) +
                   " ms (server down or unreachable, or the handshake was refused: check the "
                   "job's CURVE server public key and client key pair, or for a Unix socket "
                   "the job's local password)"));
  }
}

void ClientIo::Finish(uint64_t request_id, const Status& status) {
  auto it = pending_.find(request_id);
  const Ticket ticket = it->second.request.ticket;
  const Ticket push_ticket = it->second.request.push_ticket;
  pending_.erase(it);
  tickets_->Complete(ticket, status);
  if (push_ticket != 0) tickets_->Complete(push_ticket, status);
}

}  // namespace dips
