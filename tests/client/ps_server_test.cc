// PsServer under hostile input: malformed requests from an authenticated
// peer get error replies and are counted; raw TCP junk and peers without the
// job's keys are dropped and counted; the table is never touched by any of
// them, and a correct client is served afterwards.
#include "ps/server/ps_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
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

// A correct client can still pull and push through shard 0.
void ExpectServesCorrectClient(TestShards& shards, const JobKeys& keys) {
  auto client = PsClient::Create(shards.ClientOptions(keys, kDim)).value();
  const uint64_t key = 42;
  const float grad[kDim] = {1, 2, 3, 4};
  ASSERT_TRUE(client->Wait(client->Push(&key, 1, grad, nullptr, 0)).ok());
  float row[kDim];
  ASSERT_TRUE(client->Wait(client->Pull(&key, 1, false, row, nullptr)).ok());
  float want[kDim];
  ASSERT_TRUE(shards.table(0)->Pull(&key, 1, false, want, nullptr).ok());
  for (int i = 0; i < kDim; ++i) EXPECT_EQ(row[i], want[i]);
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
    EXPECT_NE(s.message().find(shards.endpoints()[0]), std::string::npos) << s.ToString();
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
