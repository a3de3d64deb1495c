// PsServer under hostile input: malformed requests from an authenticated
// peer get error replies and are counted; raw TCP junk and peers without the
// job's keys are dropped and counted; the table is never touched by any of
// them, and a correct client is served afterwards.
#include "ps/server/ps_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "proto/ps_wire.h"
#include "ps/server/request_handler.h"
#include "ps/table_factory.h"
#include "tests/client/test_shards.h"

namespace dips {
namespace {

constexpr int kDim = 4;

SparseTableOptions SmallTable() {
  SparseTableOptions options;
  options.dim = kDim;
  options.optimizer.kind = SparseOptimizerKind::kSgd;
  return options;
}

wire::RequestHeader ValidHeader(wire::RequestKind kind, uint64_t id, uint64_t n) {
  wire::RequestHeader h;
  h.set_magic(kPsMagic);
  h.set_version(kPsProtocolVersion);
  h.set_kind(kind);
  h.set_request_id(id);
  h.set_num_keys(n);
  h.set_dim(kDim);
  return h;
}

zmq::message_t Frame(const wire::RequestHeader& h) {
  const std::string bytes = h.SerializeAsString();
  return zmq::message_t(bytes.data(), bytes.size());
}

zmq::message_t Bytes(size_t n) { return zmq::message_t(std::string(n, '\x01')); }

// A raw DEALER holding the job's client keys: it passes the handshake and
// can then send anything.
class RawPeer {
 public:
  RawPeer(const std::string& endpoint, const JobKeys& keys) : socket_(context_, ZMQ_DEALER) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 5000);
    socket_.set(zmq::sockopt::curve_serverkey, keys.server.public_key);
    socket_.set(zmq::sockopt::curve_publickey, keys.client.public_key);
    socket_.set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
    socket_.connect(endpoint);
  }

  // Sends `frames` and returns the reply's header.
  wire::ResponseHeader Ask(std::vector<zmq::message_t> frames) {
    zmq::send_multipart(socket_, frames);
    std::vector<zmq::message_t> reply;
    wire::ResponseHeader header;
    if (!zmq::recv_multipart(socket_, std::back_inserter(reply))) {
      ADD_FAILURE() << "no reply within 5 s";
      return header;
    }
    EXPECT_EQ(reply.size(), 1u) << "an error reply carries no bulk frames";
    EXPECT_TRUE(header.ParseFromArray(reply[0].data(), static_cast<int>(reply[0].size())));
    EXPECT_EQ(header.magic(), kPsMagic);
    return header;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

template <typename... Frames>
std::vector<zmq::message_t> Message(Frames&&... frames) {
  std::vector<zmq::message_t> m;
  (m.push_back(std::forward<Frames>(frames)), ...);
  return m;
}

// A client built from `options` can pull and push through shard 0.
void ExpectServes(TestShards& shards, const PsClientOptions& options) {
  auto client = PsClient::Create(options).value();
  const uint64_t key = 42;
  const float grad[kDim] = {1, 2, 3, 4};
  ASSERT_TRUE(client->Wait(client->Push(&key, 1, grad, nullptr, 0)).ok());
  float row[kDim];
  ASSERT_TRUE(client->Wait(client->Pull(&key, 1, false, row, nullptr)).ok());
  float want[kDim];
  ASSERT_TRUE(shards.table(0)->Pull(&key, 1, false, want, nullptr).ok());
  for (int i = 0; i < kDim; ++i) EXPECT_EQ(row[i], want[i]);
}

// A correct client can still pull and push through shard 0.
void ExpectServesCorrectClient(TestShards& shards, const JobKeys& keys) {
  ExpectServes(shards, shards.ClientOptions(keys, kDim));
}

TEST(PsServerTest, MalformedRequestsGetErrorRepliesAndAreCounted) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  RawPeer peer(shards.endpoints()[0], keys);

  struct Case {
    const char* what;
    std::vector<zmq::message_t> frames;
    StatusCode code;
    uint64_t echoed_id;  // 0 when the header could not be read
  };
  std::vector<Case> cases;
  // An over-long varint: no protobuf parser accepts it.
  cases.push_back({"unparsable header", Message(zmq::message_t(std::string(12, '\xff'))),
                   StatusCode::kCorruption, 0});
  cases.push_back({"empty frame", Message(zmq::message_t()), StatusCode::kCorruption, 0});
  wire::RequestHeader bad_magic = ValidHeader(wire::STATS, 3, 0);
  bad_magic.set_magic(0x12345678);
  cases.push_back({"wrong magic", Message(Frame(bad_magic)), StatusCode::kCorruption, 0});
  wire::RequestHeader future = ValidHeader(wire::STATS, 4, 0);
  future.set_version(kPsProtocolVersion + 1);
  cases.push_back({"newer version", Message(Frame(future)), StatusCode::kFailedPrecondition, 0});
  cases.push_back({"keys frame not 8n bytes",
                   Message(Frame(ValidHeader(wire::PULL, 5, 3)), Bytes(3 * 8 - 1)),
                   StatusCode::kInvalidArgument, 5});
  cases.push_back({"PULL without keys frame", Message(Frame(ValidHeader(wire::PULL, 6, 3))),
                   StatusCode::kInvalidArgument, 6});
  cases.push_back({"gradients not 4*n*dim bytes",
                   Message(Frame(ValidHeader(wire::PUSH, 7, 2)), Bytes(16), Bytes(2 * kDim * 4 + 4)),
                   StatusCode::kInvalidArgument, 7});
  wire::RequestHeader with_occ = ValidHeader(wire::PUSH, 8, 2);
  with_occ.set_has_occurrences(true);
  cases.push_back({"occurrences frame missing",
                   Message(Frame(with_occ), Bytes(16), Bytes(2 * kDim * 4)),
                   StatusCode::kInvalidArgument, 8});
  wire::RequestHeader wrong_dim = ValidHeader(wire::PULL, 9, 1);
  wrong_dim.set_dim(kDim + 1);
  cases.push_back({"wrong dim", Message(Frame(wrong_dim), Bytes(8)),
                   StatusCode::kInvalidArgument, 9});
  wire::RequestHeader unknown = ValidHeader(wire::STATS, 10, 0);
  unknown.set_kind(static_cast<wire::RequestKind>(99));
  cases.push_back({"unknown kind", Message(Frame(unknown)), StatusCode::kInvalidArgument, 10});
  cases.push_back({"STATS with a stray frame",
                   Message(Frame(ValidHeader(wire::STATS, 11, 0)), Bytes(8)),
                   StatusCode::kInvalidArgument, 11});
  // 8 * 2^61 wraps to 0 in 64 bits: a server that multiplied would take
  // the empty frame for 2^61 keys.
  cases.push_back({"n whose byte size wraps to 0",
                   Message(Frame(ValidHeader(wire::PULL, 12, uint64_t{1} << 61)), Bytes(0)),
                   StatusCode::kInvalidArgument, 12});
  // The same for a PUSH: 2^60 * 16 bytes of gradients also wraps to 0.
  cases.push_back({"PUSH with n whose sizes wrap",
                   Message(Frame(ValidHeader(wire::PUSH, 13, uint64_t{1} << 60)), Bytes(0),
                           Bytes(0)),
                   StatusCode::kInvalidArgument, 13});

  // A PUSH_PULL is checked whole before its push touches the table.
  wire::RequestHeader push_pull = ValidHeader(wire::PUSH_PULL, 14, 2);
  push_pull.set_num_pull_keys(3);
  cases.push_back({"PUSH_PULL pull keys not 8m bytes",
                   Message(Frame(push_pull), Bytes(16), Bytes(2 * kDim * 4), Bytes(3 * 8 - 1)),
                   StatusCode::kInvalidArgument, 14});
  push_pull.set_request_id(15);
  cases.push_back({"PUSH_PULL without its pull keys",
                   Message(Frame(push_pull), Bytes(16), Bytes(2 * kDim * 4)),
                   StatusCode::kInvalidArgument, 15});
  push_pull.set_request_id(16);
  cases.push_back({"PUSH_PULL gradients short",
                   Message(Frame(push_pull), Bytes(16), Bytes(2 * kDim * 4 - 4), Bytes(3 * 8)),
                   StatusCode::kInvalidArgument, 16});

  for (Case& c : cases) {
    const wire::ResponseHeader reply = peer.Ask(std::move(c.frames));
    EXPECT_EQ(reply.status_code(), static_cast<int>(c.code)) << c.what << ": "
                                                              << reply.status_message();
    EXPECT_EQ(reply.request_id(), c.echoed_id) << c.what;
    EXPECT_FALSE(reply.status_message().empty()) << c.what;
  }
  const PsServerCounters counters = shards.server(0)->counters();
  EXPECT_EQ(counters.requests_rejected, cases.size());
  EXPECT_EQ(counters.requests_served, 0u);
  EXPECT_EQ(shards.table(0)->Stats().rows, 0u);
  EXPECT_EQ(shards.table(0)->Stats().pulls + shards.table(0)->Stats().pushes, 0u);
  ExpectServesCorrectClient(shards, keys);
}

// Polls `counter` of shard 0 until it is at least 1 (or 5 s pass).
template <typename Field>
uint64_t WaitForCounter(PsServer* server, Field field) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server->counters().*field == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return server->counters().*field;
}

// The socket loop answers the last request of a burst itself and hands the
// others to the worker threads; every request of a burst that arrives
// faster than it is served must still get exactly one reply, and the
// pushes must all reach the table.
TEST(PsServerTest, EveryRequestOfABurstIsAnswered) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  zmq::context_t context;
  zmq::socket_t socket(context, ZMQ_DEALER);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 10000);
  socket.set(zmq::sockopt::curve_serverkey, keys.server.public_key);
  socket.set(zmq::sockopt::curve_publickey, keys.client.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
  socket.connect(shards.endpoints()[0]);

  constexpr int kRequests = 300;
  const uint64_t key = 7;
  const float grad[kDim] = {1, 1, 1, 1};
  for (int r = 0; r < kRequests; ++r) {
    wire::RequestHeader h = ValidHeader(wire::PUSH, 1000 + r, 1);
    std::vector<zmq::message_t> m =
        Message(Frame(h), zmq::message_t(&key, sizeof(key)), zmq::message_t(grad, sizeof(grad)));
    zmq::send_multipart(socket, m);
  }
  std::set<uint64_t> answered;
  for (int r = 0; r < kRequests; ++r) {
    std::vector<zmq::message_t> reply;
    ASSERT_TRUE(zmq::recv_multipart(socket, std::back_inserter(reply))) << "reply " << r;
    wire::ResponseHeader header;
    ASSERT_TRUE(header.ParseFromArray(reply[0].data(), static_cast<int>(reply[0].size())));
    EXPECT_EQ(header.status_code(), 0) << header.status_message();
    EXPECT_TRUE(answered.insert(header.request_id()).second) << "two replies to one request";
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(*answered.begin(), 1000u);
  EXPECT_EQ(*answered.rbegin(), 1000u + kRequests - 1);

  // SGD from the key's initial row: each of the pushes subtracts lr * 1.
  SparseTableOptions options = SmallTable();
  auto reference = SparseTable::Create(options).value();
  for (int r = 0; r < kRequests; ++r) {
    ASSERT_TRUE(reference->Push(&key, 1, grad, nullptr, 0).ok());
  }
  float got[kDim], want[kDim];
  ASSERT_TRUE(shards.table(0)->Pull(&key, 1, false, got, nullptr).ok());
  ASSERT_TRUE(reference->Pull(&key, 1, false, want, nullptr).ok());
  for (int i = 0; i < kDim; ++i) EXPECT_FLOAT_EQ(got[i], want[i]);
  EXPECT_EQ(shards.server(0)->counters().requests_served, static_cast<uint64_t>(kRequests));
}

// Checkpoints, and pulls and pushes of a table with a disk tier, are kept off
// the socket loop's own thread; everything else may be answered there.
TEST(PsServerTest, LongRequestsGoToWorkerThreads) {
  auto request = [](std::vector<zmq::message_t> frames) {
    std::vector<zmq::message_t> m;
    m.emplace_back(std::string_view("peer-identity"));
    for (auto& f : frames) m.push_back(std::move(f));
    return m;
  };
  auto of_kind = [&](wire::RequestKind kind) {
    return request(Message(Frame(ValidHeader(kind, 1, 0))));
  };
  ServerCounterCells counters;
  PsServerOptions options;
  auto memory = SparseTable::Create(SmallTable()).value();
  RequestHandler in_memory(memory.get(), options, &counters);
  EXPECT_TRUE(in_memory.MayRunLong(of_kind(wire::CHECKPOINT)));
  EXPECT_FALSE(in_memory.MayRunLong(of_kind(wire::PULL)));
  EXPECT_FALSE(in_memory.MayRunLong(of_kind(wire::PUSH)));
  EXPECT_FALSE(in_memory.MayRunLong(of_kind(wire::BARRIER)));
  EXPECT_FALSE(in_memory.MayRunLong(of_kind(wire::STATS)));
  EXPECT_FALSE(in_memory.MayRunLong(request(Message(Bytes(37)))));
  EXPECT_FALSE(in_memory.MayRunLong(request({})));

  ShardTableOptions tiered_options;
  tiered_options.table = SmallTable();
  tiered_options.memory_budget_bytes = uint64_t{1} << 20;
  tiered_options.rocksdb.dir = ::testing::TempDir() + "/ps_server_test_tier";
  tiered_options.rocksdb.block_cache_bytes = uint64_t{1} << 20;
  tiered_options.rocksdb.write_buffer_bytes = uint64_t{1} << 20;
  auto tiered = OpenShardTable(tiered_options).value();
  ASSERT_TRUE(tiered->has_disk_tier());
  RequestHandler on_disk(tiered.get(), options, &counters);
  EXPECT_TRUE(on_disk.MayRunLong(of_kind(wire::CHECKPOINT)));
  EXPECT_TRUE(on_disk.MayRunLong(of_kind(wire::PULL)));
  EXPECT_TRUE(on_disk.MayRunLong(of_kind(wire::PUSH)));
  EXPECT_FALSE(on_disk.MayRunLong(of_kind(wire::STATS)));
}

TEST(PsServerTest, RawTcpJunkIsDroppedAndCounted) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  const std::string endpoint = shards.endpoints()[0];
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));

  for (const std::string& junk : {std::string(64, '\xff'), std::string("GET / HTTP/1.0\r\n\r\n"),
                                 std::string(300, '\0')}) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    close(fd);
  }
  EXPECT_GE(WaitForCounter(shards.server(0), &PsServerCounters::handshake_failures), 1u);
  EXPECT_EQ(shards.server(0)->counters().requests_served, 0u);
  EXPECT_EQ(shards.table(0)->Stats().rows, 0u);
  ExpectServesCorrectClient(shards, keys);
}

// Pushes through a client built from `options`; expects a DeadlineExceeded
// naming the endpoint and no trace in the table. Twice: pushing at once (the
// request is queued before the handshake fails) and pushing once the
// handshake has surely failed (the socket then has no connection to queue
// on); both must give the same answer.
void ExpectRefused(TestShards& shards, PsClientOptions options) {
  options.request_timeout_ms = 500;
  for (const int settle_ms : {0, 300}) {
    SCOPED_TRACE("push " + std::to_string(settle_ms) + " ms after connecting");
    auto client = PsClient::Create(options).value();
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
    const uint64_t key = 7;
    const float grad[kDim] = {1, 1, 1, 1};
    const Status s = client->Wait(client->Push(&key, 1, grad, nullptr, 0));
    EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
    EXPECT_NE(s.message().find(options.server_endpoints[0]), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("CURVE"), std::string::npos) << s.ToString();
  }
  const SparseTableStats stats = shards.table(0)->Stats();
  EXPECT_EQ(stats.rows, 0u);
  EXPECT_EQ(stats.pushes, 0u);
  EXPECT_EQ(shards.server(0)->counters().requests_served, 0u);
}

TEST(PsServerTest, ClientWithWrongServerKeyIsRefused) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  PsClientOptions options = shards.ClientOptions(keys, kDim);
  options.server_public_key = GenerateCurveKeyPair().value().public_key;  // another job's
  ExpectRefused(shards, options);
  EXPECT_GE(WaitForCounter(shards.server(0), &PsServerCounters::handshake_failures), 1u);
  ExpectServesCorrectClient(shards, keys);
}

TEST(PsServerTest, ClientKeyOutsideTheJobIsRefused) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  // Knows the server's public key, but its own pair is not the job's.
  const CurveKeyPair stranger = GenerateCurveKeyPair().value();
  PsClientOptions options = shards.ClientOptions(keys, kDim);
  options.client_public_key = stranger.public_key;
  options.client_secret_key = stranger.secret_key;
  ExpectRefused(shards, options);
  EXPECT_GE(shards.server(0)->counters().auth_denied, 1u);
  ExpectServesCorrectClient(shards, keys);
}

TEST(PsServerTest, PlainTextClientIsRefused) {
  const JobKeys keys = NewJobKeys();
  TestShards shards(1, SmallTable(), keys);
  PsClientOptions options = shards.ClientOptions(keys, kDim);
  options.disable_curve = true;
  ExpectRefused(shards, options);
}

// A 40-character password, as dist-train makes one per job.
std::string JobPassword() { return GenerateCurveKeyPair().value().secret_key; }

void ExpectServesLocalClient(TestShards& shards, const JobKeys& keys,
                             const std::string& password) {
  ExpectServes(shards, shards.LocalClientOptions(keys, kDim, password));
}

TEST(PsServerTest, LocalSocketIsPrivateAndServesBesideTcp) {
  const JobKeys keys = NewJobKeys();
  const std::string password = JobPassword();
  std::string dir;
  {
    TestShards shards(1, SmallTable(), keys, 1, password);
    const std::string endpoint = shards.local_endpoints()[0];
    ASSERT_EQ(endpoint.rfind("ipc:///tmp/dips-ps-", 0), 0u) << endpoint;
    const std::string path = endpoint.substr(std::strlen("ipc://"));
    dir = path.substr(0, path.rfind('/'));
    struct stat st;
    ASSERT_EQ(stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << "directory mode " << std::oct << (st.st_mode & 0777);
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    ExpectServesLocalClient(shards, keys, password);
    ExpectServesCorrectClient(shards, keys);  // TCP with CURVE, on the same socket
    EXPECT_EQ(shards.server(0)->counters().auth_denied, 0u);
  }
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << dir << " outlived its server";
}

// A directory as a server leaves it when killed: its socket file, bound by
// a process that no longer listens, last touched `age_s` seconds ago.
std::string MakeDeadServerDir(const std::string& parent, int age_s) {
  std::string dir = parent + "/dips-ps-XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/shard";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);  // bound, never listening: connect is refused
  const timeval times[2] = {{time(nullptr) - age_s, 0}, {time(nullptr) - age_s, 0}};
  EXPECT_EQ(lutimes(path.c_str(), times), 0);
  return dir;
}

TEST(PsServerTest, StartingServerRemovesOnlyDeadServersOldDirectories) {
  char parent_template[] = "/tmp/dips-sweep-test-XXXXXX";
  ASSERT_NE(mkdtemp(parent_template), nullptr);
  const std::string parent = parent_template;
  const std::string dead_old = MakeDeadServerDir(parent, 3600);
  const std::string dead_young = MakeDeadServerDir(parent, 0);
  const std::string other = parent + "/unrelated";
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
  auto live_table = SparseTable::Create(SmallTable()).value();
  const JobKeys keys = NewJobKeys();
  PsServerOptions options;
  options.curve_public_key = keys.server.public_key;
  options.curve_secret_key = keys.server.secret_key;
  options.local_socket_parent = parent;
  options.local_password = JobPassword();
  auto live = PsServer::Create(options, live_table.get()).value();
  const std::string live_path = live->local_endpoint().substr(std::strlen("ipc://"));
  // The live server's socket, made to look old: it listens, so it stays.
  const timeval old_times[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
  ASSERT_EQ(lutimes(live_path.c_str(), old_times), 0);

  auto table = SparseTable::Create(SmallTable()).value();
  auto server = PsServer::Create(options, table.get()).value();
  struct stat st;
  EXPECT_NE(stat(dead_old.c_str(), &st), 0) << dead_old << " should have been removed";
  EXPECT_EQ(stat(dead_young.c_str(), &st), 0) << "a young directory may be a starting server's";
  EXPECT_EQ(stat(live_path.c_str(), &st), 0) << "a listening server's socket was removed";
  EXPECT_EQ(stat(other.c_str(), &st), 0);
  server.reset();
  live.reset();
  unlink((dead_young + "/shard").c_str());
  rmdir(dead_young.c_str());
  rmdir(other.c_str());
  EXPECT_EQ(rmdir(parent.c_str()), 0) << "something was left in " << parent;
}

TEST(PsServerTest, LocalClientWithAnotherJobsPasswordIsRefused) {
  const JobKeys keys = NewJobKeys();
  const std::string password = JobPassword();
  TestShards shards(1, SmallTable(), keys, 1, password);
  ExpectRefused(shards, shards.LocalClientOptions(keys, kDim, JobPassword()));
  EXPECT_GE(shards.server(0)->counters().auth_denied, 1u);
  ExpectServesLocalClient(shards, keys, password);
}

// A raw DEALER that sends one STATS request with `configure`'s security
// settings to `endpoint`; true if any reply came within 500 ms.
template <typename Configure>
bool AnswersRawStats(const std::string& endpoint, Configure configure) {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  configure(socket);
  socket.connect(endpoint);
  socket.send(Frame(ValidHeader(wire::STATS, 1, 0)), zmq::send_flags::none);
  zmq::pollitem_t item = {socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(500));
  return (item.revents & ZMQ_POLLIN) != 0;
}

TEST(PsServerTest, EachEndpointSpeaksOnlyItsOwnMechanism) {
  const JobKeys keys = NewJobKeys();
  const std::string password = JobPassword();
  TestShards shards(1, SmallTable(), keys, 1, password);
  const auto curve = [&](zmq::socket_t& s) {
    s.set(zmq::sockopt::curve_serverkey, keys.server.public_key);
    s.set(zmq::sockopt::curve_publickey, keys.client.public_key);
    s.set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
  };
  const auto plain = [&](zmq::socket_t& s) {
    s.set(zmq::sockopt::plain_username, "dips");
    s.set(zmq::sockopt::plain_password, password);
  };
  // The right credentials on the right endpoint: answered.
  EXPECT_TRUE(AnswersRawStats(shards.endpoints()[0], curve));
  EXPECT_TRUE(AnswersRawStats(shards.local_endpoints()[0], plain));
  // The job's password over TCP would cross the network unencrypted; the
  // Unix socket has no CURVE; neither has a NULL (no security) mechanism.
  EXPECT_FALSE(AnswersRawStats(shards.endpoints()[0], plain));
  EXPECT_FALSE(AnswersRawStats(shards.local_endpoints()[0], curve));
  EXPECT_FALSE(AnswersRawStats(shards.local_endpoints()[0], [](zmq::socket_t&) {}));
  EXPECT_GE(shards.server(0)->counters().handshake_failures, 3u);
  ExpectServesLocalClient(shards, keys, password);
}

TEST(PsServerTest, LocalSocketOptionsAreValidated) {
  auto table = SparseTable::Create(SmallTable()).value();
  const JobKeys keys = NewJobKeys();
  PsServerOptions options;
  options.curve_public_key = keys.server.public_key;
  options.curve_secret_key = keys.server.secret_key;
  options.local_socket_parent = "/tmp";
  options.local_password = "short";
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(),
            StatusCode::kInvalidArgument);
  options.local_password = JobPassword();
  options.disable_curve = true;
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(),
            StatusCode::kInvalidArgument);
  options.disable_curve = false;
  options.local_socket_parent = "/nonexistent-dips-dir";
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(), StatusCode::kUnavailable);
  // An existing parent too deep for a Unix socket's 107-byte path.
  const std::string deep = "/tmp/dips-ps-test-" + std::to_string(getpid()) + std::string(90, 'x');
  ASSERT_EQ(mkdir(deep.c_str(), 0700), 0);
  options.local_socket_parent = deep;
  const Status too_long = PsServer::Create(options, table.get()).status();
  EXPECT_EQ(too_long.code(), StatusCode::kInvalidArgument) << too_long.ToString();
  EXPECT_EQ(rmdir(deep.c_str()), 0) << "the server left its directory in " << deep;

  PsClientOptions client;
  client.server_endpoints = {"ipc:///tmp/dips-ps-none/shard"};
  client.server_public_key = keys.server.public_key;
  client.client_public_key = keys.client.public_key;
  client.client_secret_key = keys.client.secret_key;
  EXPECT_EQ(ValidatePsClientOptions(client).code(), StatusCode::kInvalidArgument);
  client.local_password = JobPassword();
  EXPECT_TRUE(ValidatePsClientOptions(client).ok());
  client.disable_curve = true;
  EXPECT_EQ(ValidatePsClientOptions(client).code(), StatusCode::kInvalidArgument);
}

TEST(PsServerTest, OptionsAreValidated) {
  auto table = SparseTable::Create(SmallTable()).value();
  PsServerOptions options;
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(),
            StatusCode::kInvalidArgument);  // CURVE keys missing
  const CurveKeyPair a = GenerateCurveKeyPair().value();
  const CurveKeyPair b = GenerateCurveKeyPair().value();
  options.curve_public_key = a.public_key;
  options.curve_secret_key = b.secret_key;
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(),
            StatusCode::kInvalidArgument);  // keys of two different pairs
  options.curve_secret_key = a.secret_key;
  options.num_worker_threads = 0;
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(),
            StatusCode::kInvalidArgument);
  options.num_worker_threads = 1;
  options.bind_host = "203.0.113.1";  // TEST-NET-3: not an address of this machine
  EXPECT_EQ(PsServer::Create(options, table.get()).status().code(), StatusCode::kUnavailable);
  options.bind_host = "127.0.0.1";
  auto server = PsServer::Create(options, table.get()).value();
  EXPECT_EQ(server->endpoint().rfind("tcp://127.0.0.1:", 0), 0u) << server->endpoint();
  EXPECT_EQ(PsServer::Create(options, nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PsServerTest, ReceiveTimeoutEndsRun) {
  auto table = SparseTable::Create(SmallTable()).value();
  PsServerOptions options;
  options.disable_curve = true;
  options.receive_timeout_ms = 200;
  auto server = PsServer::Create(options, table.get()).value();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server->Run().code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_EQ(server->Run().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dips
