// SocketPoller over real ZeroMQ sockets (inproc pairs) and an eventfd: it
// reports what is readable, honours its timeout, keeps a message it was not
// drained of, and finds a message whose signal a send took in once the
// caller marks the socket used.
#include "proto/socket_poller.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <zmq.hpp>

namespace dips {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Two connected PAIR sockets: `near` is polled, `far` is its peer.
struct Pair {
  zmq::context_t context{1};
  zmq::socket_t near{context, zmq::socket_type::pair};
  zmq::socket_t far{context, zmq::socket_type::pair};
  explicit Pair(const char* address) {
    near.bind(address);
    far.connect(address);
  }
};

// Takes in the socket's pending commands, as a send or receive may do, so
// that its descriptor no longer signals the message waiting there.
void TakeInCommands(zmq::socket_t& socket) {
  (void)socket.get(zmq::sockopt::events);
}

TEST(SocketPollerTest, ReportsAMessageAndNothingElse) {
  Pair pair("inproc://poller-message");
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  SocketPoller poller;
  const size_t socket = poller.AddSocket(pair.near.handle());
  const size_t wake = poller.AddFd(fd);
  pair.far.send(zmq::str_buffer("hello"));
  EXPECT_EQ(poller.Wait(milliseconds(2000)), 1);
  EXPECT_TRUE(poller.readable(socket));
  EXPECT_FALSE(poller.readable(wake));
  zmq::message_t message;
  ASSERT_TRUE(pair.near.recv(message, zmq::recv_flags::dontwait));
  EXPECT_EQ(message.to_string(), "hello");
  EXPECT_FALSE(pair.near.recv(message, zmq::recv_flags::dontwait));
  EXPECT_EQ(poller.Wait(milliseconds(0)), 0);
  EXPECT_FALSE(poller.readable(socket));
  close(fd);
}

TEST(SocketPollerTest, ReportsADescriptorAndWaitsOutItsTimeout) {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Pair pair("inproc://poller-fd");
  SocketPoller poller;
  poller.AddSocket(pair.near.handle());
  const size_t wake = poller.AddFd(fd);
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(poller.Wait(milliseconds(50)), 0);
  EXPECT_GE(Clock::now() - start, milliseconds(50));
  const uint64_t one = 1;
  ASSERT_EQ(write(fd, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  EXPECT_EQ(poller.Wait(milliseconds(2000)), 1);
  EXPECT_TRUE(poller.readable(wake));
  close(fd);
}

TEST(SocketPollerTest, AMessageLeftThereIsReportedAgain) {
  Pair pair("inproc://poller-left");
  SocketPoller poller;
  const size_t socket = poller.AddSocket(pair.near.handle());
  pair.far.send(zmq::str_buffer("one"));
  pair.far.send(zmq::str_buffer("two"));
  ASSERT_EQ(poller.Wait(milliseconds(2000)), 1);
  zmq::message_t message;
  ASSERT_TRUE(pair.near.recv(message, zmq::recv_flags::dontwait));  // "two" stays
  EXPECT_EQ(poller.Wait(milliseconds(0)), 1);
  EXPECT_TRUE(poller.readable(socket));
}

TEST(SocketPollerTest, AMarkedSocketIsAskedEvenWhenItsDescriptorIsQuiet) {
  Pair pair("inproc://poller-marked");
  SocketPoller poller;
  const size_t socket = poller.AddSocket(pair.near.handle());
  ASSERT_EQ(poller.Wait(milliseconds(0)), 0);  // asked once: now trusts the descriptor
  pair.far.send(zmq::str_buffer("hidden"));
  TakeInCommands(pair.near);
  // The descriptor no longer signals the message: unmarked, it is not seen.
  EXPECT_EQ(poller.Wait(milliseconds(50)), 0);
  poller.MarkUsed(socket);
  EXPECT_EQ(poller.Wait(milliseconds(0)), 1);
  EXPECT_TRUE(poller.readable(socket));
}

TEST(SocketPollerTest, DescriptorsAreSeenBesideABusySocket) {
  Pair pair("inproc://poller-busy");
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  SocketPoller poller;
  const size_t socket = poller.AddSocket(pair.near.handle());
  const size_t wake = poller.AddFd(fd);
  pair.far.send(zmq::str_buffer("busy"));
  ASSERT_EQ(poller.Wait(milliseconds(2000)), 1);
  const uint64_t one = 1;
  ASSERT_EQ(write(fd, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  // The socket is still readable (not drained); the descriptor is seen too.
  EXPECT_EQ(poller.Wait(milliseconds(0)), 2);
  EXPECT_TRUE(poller.readable(socket));
  EXPECT_TRUE(poller.readable(wake));
  close(fd);
}

}  // namespace
}  // namespace dips
