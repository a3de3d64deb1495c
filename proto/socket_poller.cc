#include "proto/socket_poller.h"

#include <algorithm>
#include <cerrno>
#include <zmq.hpp>

namespace dips {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

size_t SocketPoller::AddSocket(void* socket) {
  pollfd entry{};
  size_t size = sizeof(entry.fd);
  if (zmq_getsockopt(socket, ZMQ_FD, &entry.fd, &size) != 0) throw zmq::error_t();
  entry.events = POLLIN;
  Item item;
  item.socket = socket;
  items_.push_back(item);
  fds_.push_back(entry);
  return items_.size() - 1;
}

size_t SocketPoller::AddFd(int fd) {
  pollfd entry{};
  entry.fd = fd;
  entry.events = POLLIN;
  Item item;
  item.ask = false;
  items_.push_back(item);
  fds_.push_back(entry);
  return items_.size() - 1;
}

int SocketPoller::AskMarkedSockets() {
  int ready = 0;
  for (Item& item : items_) {
    if (item.socket == nullptr || !item.ask || item.readable) continue;
    // Reading ZMQ_EVENTS processes the socket's pending commands and clears
    // its descriptor, so afterwards the descriptor signals the next change.
    int events = 0;
    size_t size = sizeof(events);
    if (zmq_getsockopt(item.socket, ZMQ_EVENTS, &events, &size) != 0) throw zmq::error_t();
    if (events & ZMQ_POLLIN) {
      item.readable = true;  // and stays marked: the caller is about to use it
      ++ready;
    } else {
      item.ask = false;
    }
  }
  return ready;
}

int SocketPoller::Wait(std::chrono::milliseconds timeout) {
  const bool forever = timeout.count() < 0;
  const Clock::time_point deadline = forever ? Clock::time_point::max() : Clock::now() + timeout;
  for (Item& item : items_) item.readable = false;
  int ready = AskMarkedSockets();
  while (true) {
    int wait_ms = 0;
    if (ready == 0) {
      if (forever) {
        wait_ms = -1;
      } else {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        wait_ms = static_cast<int>(std::max<long long>(0, left));
      }
    }
    const int rc = poll(fds_.data(), fds_.size(), wait_ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw zmq::error_t();
    }
    for (size_t i = 0; rc > 0 && i < items_.size(); ++i) {
      if (fds_[i].revents == 0) continue;
      if (items_[i].socket != nullptr) {
        items_[i].ask = true;
      } else if (!items_[i].readable) {
        items_[i].readable = true;
        ++ready;
      }
    }
    ready += AskMarkedSockets();
    // A socket's descriptor also signals commands that bring no message.
    if (ready > 0 || wait_ms == 0) return ready;
  }
}

}  // namespace dips
