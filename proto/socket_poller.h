// SocketPoller: waits on ZeroMQ sockets and plain descriptors with one
// poll(2) call per wait.
//
// zmq_poll asks every ZeroMQ socket for its events (ZMQ_EVENTS) before and
// after it sleeps, and a socket with nothing pending answers that with two
// system calls (getpid and a poll of its own descriptor). A server loop over
// four sockets made about 13 poll calls per request that way
// (docs/results.md, "Waiting on sockets with one poll call"). This poller
// asks a socket only when its descriptor has signalled or the caller has used
// it since the last wait: the two cases in which ZeroMQ's edge-style
// descriptor can hide a pending message (zmq_getsockopt(3), ZMQ_FD).
//
// The caller's part of the contract:
// - after Wait reports a socket readable, receive from it until it would
//   block, or leave messages there (the socket stays marked and is asked
//   again on the next Wait);
// - after sending on socket i, call MarkUsed(i).
//
// Not thread-safe: used by the thread that owns the sockets.
#ifndef DIPS_PROTO_SOCKET_POLLER_H_
#define DIPS_PROTO_SOCKET_POLLER_H_

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <vector>

namespace dips {

class SocketPoller {
 public:
  // Adds a ZeroMQ socket (zmq::socket_t::handle()); returns its index.
  // Throws zmq::error_t if the socket has no descriptor.
  size_t AddSocket(void* socket);
  // Adds a plain descriptor, waited on for POLLIN; returns its index.
  size_t AddFd(int fd);

  // Waits until at least one item is readable or `timeout` has passed
  // (negative: no limit). Returns how many items are readable; every
  // descriptor is polled at least once per call, so none starves behind a
  // busy socket. Throws zmq::error_t when poll or ZeroMQ fails (EINTR is
  // retried).
  int Wait(std::chrono::milliseconds timeout);

  // Whether item `i` was readable at the last Wait.
  bool readable(size_t i) const { return items_[i].readable; }
  // The caller sent on socket `i`: the next Wait asks the socket itself.
  void MarkUsed(size_t i) { items_[i].ask = true; }

 private:
  struct Item {
    void* socket = nullptr;  // null for a plain descriptor
    bool ask = true;         // ZMQ_EVENTS must be read before trusting the fd
    bool readable = false;
  };
  // Asks every marked socket not yet found readable; returns how many of
  // them are.
  int AskMarkedSockets();

  std::vector<Item> items_;
  std::vector<pollfd> fds_;  // parallel to items_
};

}  // namespace dips

#endif  // DIPS_PROTO_SOCKET_POLLER_H_
