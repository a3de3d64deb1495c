// The socket side of a server shard. One thread (Run's) owns the network
// ROUTER, the inproc DEALER that feeds the workers, the handshake monitor and
// the ZAP (authentication) socket, and moves messages between them, answering
// some requests itself (TakeRequest); worker threads each own one DEALER on
// the inproc side and call RequestHandler.
// ZeroMQ sockets are used only by the thread that owns them.
#include "ps/server/ps_server.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "proto/ps_wire.h"
#include "proto/socket_poller.h"
#include "ps/server/curve_keys.h"
#include "ps/server/local_socket_dir.h"
#include "ps/server/request_handler.h"

namespace dips {
namespace {

constexpr char kWorkersAddress[] = "inproc://dips-ps-workers";
constexpr char kMonitorAddress[] = "inproc://dips-ps-monitor";
// libzmq asks this well-known inproc address to authenticate peers.
constexpr char kZapAddress[] = "inproc://zeromq.zap.01";
constexpr int kWorkerPollMs = 100;  // how soon workers notice a stop
constexpr int kMaxForwardBurst = 256;

using Clock = std::chrono::steady_clock;

// Moves one whole message from `from` to `to`; false if none was waiting.
bool ForwardOne(zmq::socket_t& from, zmq::socket_t& to) {
  zmq::message_t part;
  if (!from.recv(part, zmq::recv_flags::dontwait)) return false;
  // The remaining parts of a multipart message arrive together with the first.
  while (part.more()) {
    to.send(part, zmq::send_flags::sndmore);
    CHECK(from.recv(part, zmq::recv_flags::none));
  }
  to.send(part, zmq::send_flags::none);
  return true;
}

// Compares in time that depends only on the lengths, not on where the two
// first differ.
bool SameSecret(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return diff == 0;
}

class PsServerImpl : public PsServer {
 public:
  PsServerImpl(const PsServerOptions& options, SparseTable* table)
      : options_(options),
        table_(table),
        handler_(table, options, &counters_) {}

  ~PsServerImpl() override {
    if (wake_fd_ >= 0) close(wake_fd_);
    RemoveLocalSocket();
  }

  Status Init();
  const std::string& endpoint() const override { return endpoint_; }
  const std::string& local_endpoint() const override { return local_endpoint_; }
  Status Run() override;
  void Stop() override;
  PsServerCounters counters() const override { return counters_.Snapshot(); }

 private:
  // Receives one request from the network, if one waits, and either hands
  // it to the workers (setting *handed_off) or answers it on this thread
  // (see the definition).
  bool TakeRequest(bool* handed_off);
  void WorkerLoop();
  void HandleMonitorEvent();
  void HandleZapRequest();
  void CloseSockets();
  // Creates the private directory and binds the Unix socket in it.
  Status BindLocalSocket();
  // Closes the network socket, then removes the Unix socket and its directory.
  void RemoveLocalSocket();

  const PsServerOptions options_;
  SparseTable* const table_;
  ServerCounterCells counters_;
  RequestHandler handler_;
  std::vector<std::array<uint8_t, 32>> allowed_keys_;

  // Declared before the sockets: destroyed (terminated) after they close.
  zmq::context_t context_{1};
  zmq::socket_t zap_;
  zmq::socket_t frontend_;
  zmq::socket_t monitor_;
  zmq::socket_t backend_;
  int wake_fd_ = -1;  // Stop() writes here to wake Run's poll
  std::string endpoint_;
  std::unique_ptr<LocalSocketDir> local_dir_;  // the Unix socket's, if any
  std::string local_endpoint_;
  std::vector<Multipart> inline_replies_;  // TakeRequest's, kept for its capacity
  std::atomic<bool> stop_{false};
  std::atomic<bool> workers_stop_{false};
  std::atomic<bool> ran_{false};
};

Status PsServerImpl::Init() {
  try {
    if (!options_.disable_curve) {
      for (const std::string& key : options_.allowed_client_public_keys) {
        std::array<uint8_t, 32> binary;
        CHECK(zmq_z85_decode(binary.data(), key.c_str()) != nullptr);  // validated
        allowed_keys_.push_back(binary);
      }
      // The handler must be bound before the first peer connects.
      zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
      zap_.set(zmq::sockopt::linger, 0);
      zap_.bind(kZapAddress);
    }
    frontend_ = zmq::socket_t(context_, zmq::socket_type::router);
    frontend_.set(zmq::sockopt::linger, options_.linger_ms);
    // Replies are never dropped for a slow client; requests are bounded by
    // what clients send.
    frontend_.set(zmq::sockopt::sndhwm, 0);
    frontend_.set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
    frontend_.set(zmq::sockopt::handshake_ivl, options_.handshake_timeout_ms);
    if (!options_.disable_curve) {
      frontend_.set(zmq::sockopt::curve_server, true);
      frontend_.set(zmq::sockopt::curve_secretkey, options_.curve_secret_key);
    }
    if (zmq_socket_monitor(frontend_.handle(), kMonitorAddress,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
      return InternalError(std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
    }
    monitor_ = zmq::socket_t(context_, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(kMonitorAddress);
    backend_ = zmq::socket_t(context_, zmq::socket_type::dealer);
    backend_.set(zmq::sockopt::linger, 0);
    // Unbounded on the inproc side: a bounded pipe in each direction could
    // leave Run blocked on a full worker queue while the workers block on a
    // full reply queue.
    backend_.set(zmq::sockopt::sndhwm, 0);
    backend_.set(zmq::sockopt::rcvhwm, 0);
    backend_.bind(kWorkersAddress);
  } catch (const zmq::error_t& e) {
    return InternalError(std::string("setting up server sockets: ") + e.what());
  }
  const std::string port = options_.port == 0 ? "*" : std::to_string(options_.port);
  const std::string address = "tcp://" + options_.bind_host + ":" + port;
  try {
    frontend_.bind(address);
    endpoint_ = frontend_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return UnavailableError("cannot bind " + address + ": " + e.what());
  }
  if (!options_.local_socket_parent.empty()) RETURN_IF_ERROR(BindLocalSocket());
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return InternalError(std::string("eventfd: ") + std::strerror(errno));
  return Status::OK();
}

Status PsServerImpl::BindLocalSocket() {
  ASSIGN_OR_RETURN(local_dir_, LocalSocketDir::Create(options_.local_socket_parent));
  try {
    // Listener options are fixed at bind: the TCP endpoint bound before
    // keeps CURVE, this one speaks PLAIN.
    frontend_.set(zmq::sockopt::plain_server, true);
    frontend_.bind("ipc://" + local_dir_->socket_path());
    local_endpoint_ = frontend_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return UnavailableError("cannot bind the Unix socket " + local_dir_->socket_path() + ": " +
                            e.what());
  }
  return Status::OK();
}

void PsServerImpl::RemoveLocalSocket() {
  if (local_dir_ == nullptr) return;
  if (frontend_) frontend_.close();  // before the socket file goes
  local_dir_.reset();
}

Status PsServerImpl::Run() {
  if (ran_.exchange(true)) return FailedPreconditionError("PsServer::Run called twice");
  std::vector<std::thread> workers;
  for (int i = 0; i < options_.num_worker_threads; ++i) {
    workers.emplace_back([this] { WorkerLoop(); });
  }
  Status status;
  Clock::time_point last_receive = Clock::now();
  try {
    SocketPoller poller;
    const size_t frontend = poller.AddSocket(frontend_.handle());
    const size_t backend = poller.AddSocket(backend_.handle());
    const size_t monitor = poller.AddSocket(monitor_.handle());
    const size_t wake = poller.AddFd(wake_fd_);
    const size_t zap = zap_ ? poller.AddSocket(zap_.handle()) : 0;
    while (!stop_.load()) {
      long timeout_ms = -1;
      if (options_.receive_timeout_ms > 0) {
        const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
            Clock::now() - last_receive);
        timeout_ms = std::max<long>(0, options_.receive_timeout_ms - idle.count());
      }
      poller.Wait(std::chrono::milliseconds(timeout_ms));
      if (poller.readable(frontend)) {
        bool handed_off = false;
        for (int i = 0; i < kMaxForwardBurst && TakeRequest(&handed_off); ++i) {
        }
        poller.MarkUsed(frontend);  // answered here, or received until it would block
        if (handed_off) poller.MarkUsed(backend);
        last_receive = Clock::now();
      }
      if (poller.readable(backend)) {
        for (int i = 0; i < kMaxForwardBurst && ForwardOne(backend_, frontend_); ++i) {
        }
        poller.MarkUsed(frontend);
      }
      if (poller.readable(monitor)) HandleMonitorEvent();
      if (poller.readable(wake)) {
        uint64_t ignored;
        (void)!read(wake_fd_, &ignored, sizeof(ignored));
      }
      if (zap_ && poller.readable(zap)) {
        HandleZapRequest();
        poller.MarkUsed(zap);
      }
      if (options_.receive_timeout_ms > 0 &&
          Clock::now() - last_receive >= std::chrono::milliseconds(options_.receive_timeout_ms)) {
        status = DeadlineExceededError("server " + endpoint_ + " received nothing for " +
                                       std::to_string(options_.receive_timeout_ms) + " ms");
        break;
      }
    }
  } catch (const zmq::error_t& e) {
    status = InternalError("server " + endpoint_ + " socket loop: " + e.what());
  }
  workers_stop_.store(true);
  for (std::thread& t : workers) t.join();
  // Replies the workers sent before stopping (the last SHUTDOWN's included)
  // still sit in the inproc queue; hand them to the network before closing.
  try {
    while (ForwardOne(backend_, frontend_)) {
    }
  } catch (const zmq::error_t& e) {
    if (status.ok()) status = InternalError(std::string("draining replies: ") + e.what());
  }
  CloseSockets();
  return status;
}

void PsServerImpl::Stop() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

// Each handoff between threads costs a wakeup, which on a small machine is
// as dear as moving tens of kilobytes. So the last request of a burst, the
// usual case when a client waits on one pull, is answered right here; only
// when more requests wait behind it, or it may run long (a checkpoint, or
// any pull or push of a table with a disk tier), does it go to the worker
// threads, which then work in parallel with this one.
bool PsServerImpl::TakeRequest(bool* handed_off) {
  Multipart request;
  if (!zmq::recv_multipart(frontend_, std::back_inserter(request), zmq::recv_flags::dontwait)) {
    return false;
  }
  const bool more_waiting = (frontend_.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
  if (more_waiting || handler_.MayRunLong(request)) {
    zmq::send_multipart(backend_, request);
    *handed_off = true;
    return true;
  }
  inline_replies_.clear();
  const bool stop = handler_.Handle(request, &inline_replies_);
  for (Multipart& message : inline_replies_) zmq::send_multipart(frontend_, message);
  if (stop) Stop();
  return true;
}

void PsServerImpl::WorkerLoop() {
  zmq::socket_t socket(context_, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.connect(kWorkersAddress);
  std::vector<Multipart> out;
  SocketPoller poller;
  const size_t inbox = poller.AddSocket(socket.handle());
  while (!workers_stop_.load()) {
    poller.Wait(std::chrono::milliseconds(kWorkerPollMs));
    if (!poller.readable(inbox)) continue;
    Multipart request;
    if (!zmq::recv_multipart(socket, std::back_inserter(request), zmq::recv_flags::dontwait)) {
      continue;
    }
    out.clear();
    const bool stop = handler_.Handle(request, &out);
    for (Multipart& message : out) {
      zmq::send_multipart(socket, message);
    }
    poller.MarkUsed(inbox);
    if (stop) Stop();
  }
  // Close now, with the default (infinite) linger on this inproc socket, so
  // the replies just sent are not discarded.
  socket.close();
}

void PsServerImpl::HandleMonitorEvent() {
  Multipart event;
  if (!zmq::recv_multipart(monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) {
    return;
  }
  if (event.empty() || event[0].size() < sizeof(uint16_t)) return;
  uint16_t id;
  std::memcpy(&id, event[0].data(), sizeof(id));
  if (id & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
    counters_.handshake_failures.fetch_add(1, std::memory_order_relaxed);
  }
}

// ZAP (ZeroMQ RFC 27): libzmq asks [version, request id, domain, address,
// identity, mechanism, credentials...] and expects [version, request id,
// status code, status text, user id, metadata].
void PsServerImpl::HandleZapRequest() {
  Multipart request;
  if (!zmq::recv_multipart(zap_, std::back_inserter(request), zmq::recv_flags::dontwait)) {
    return;
  }
  bool allowed = false;
  if (request.size() == 7 && request[5].to_string_view() == "CURVE" && request[6].size() == 32) {
    allowed = allowed_keys_.empty();
    for (const auto& key : allowed_keys_) {
      allowed = allowed || std::memcmp(key.data(), request[6].data(), 32) == 0;
    }
  } else if (request.size() == 8 && request[5].to_string_view() == "PLAIN" &&
             !options_.local_password.empty()) {
    // [.., "PLAIN", user name, password]; only the Unix socket speaks PLAIN.
    allowed = SameSecret(request[7].to_string_view(), options_.local_password);
  }
  if (!allowed) counters_.auth_denied.fetch_add(1, std::memory_order_relaxed);
  std::vector<zmq::message_t> reply;
  reply.emplace_back(std::string_view("1.0"));
  reply.push_back(request.size() > 1 ? std::move(request[1]) : zmq::message_t());
  reply.emplace_back(std::string_view(allowed ? "200" : "400"));
  reply.emplace_back(std::string_view(allowed ? "OK" : "client key not allowed"));
  reply.emplace_back();
  reply.emplace_back();
  zmq::send_multipart(zap_, reply);
}

void PsServerImpl::CloseSockets() {
  zmq_socket_monitor(frontend_.handle(), nullptr, 0);
  monitor_.close();
  backend_.close();
  frontend_.close();  // lingers up to linger_ms for queued replies
  if (zap_) zap_.close();
}

}  // namespace

Status ValidatePsServerOptions(const PsServerOptions& options) {
  if (options.bind_host.empty()) return InvalidArgumentError("bind_host is empty");
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgumentError("port must be in [0, 65535]");
  }
  if (options.num_worker_threads < 1) {
    return InvalidArgumentError("num_worker_threads must be >= 1");
  }
  if (options.expected_clients < 1) return InvalidArgumentError("expected_clients must be >= 1");
  if (options.receive_timeout_ms < 0) {
    return InvalidArgumentError("receive_timeout_ms must be >= 0");
  }
  if (options.handshake_timeout_ms < 1) {
    return InvalidArgumentError("handshake_timeout_ms must be >= 1");
  }
  if (options.max_message_bytes < 1) return InvalidArgumentError("max_message_bytes must be >= 1");
  if (options.linger_ms < 0) return InvalidArgumentError("linger_ms must be >= 0");
  if (options.num_shards < 1 || options.shard_index >= options.num_shards) {
    return InvalidArgumentError("shard_index must be in [0, num_shards)");
  }
  if (!options.local_socket_parent.empty()) {
    if (options.disable_curve) {
      return InvalidArgumentError("a local Unix socket needs CURVE on the TCP endpoint");
    }
    if (!ValidLocalPassword(options.local_password)) {
      return InvalidArgumentError("local_password must have 32 to 255 characters");
    }
  }
  if (options.disable_curve) return Status::OK();
  RETURN_IF_ERROR(ValidateCurveKeyPair({options.curve_public_key, options.curve_secret_key}));
  for (const std::string& key : options.allowed_client_public_keys) {
    RETURN_IF_ERROR(ValidateCurveKey(key, "allowed client public key"));
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<PsServer>> PsServer::Create(const PsServerOptions& options,
                                                     SparseTable* table) {
  if (table == nullptr) return InvalidArgumentError("PsServer needs a table");
  RETURN_IF_ERROR(ValidatePsServerOptions(options));
  auto server = std::make_unique<PsServerImpl>(options, table);
  RETURN_IF_ERROR(server->Init());
  return std::unique_ptr<PsServer>(std::move(server));
}

}  // namespace dips
