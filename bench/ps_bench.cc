// Parameter-server wire throughput: one PsServer over loopback, pull and push
// of 10^3..10^5 unique keys of 18 and 36 floats, next to a raw ZeroMQ
// DEALER/ROUTER exchange of frames of exactly the same sizes (request and
// reply) measured in the same run, with the same CURVE setting. Also prints
// the table alone (no network), which bounds what any server can reach.
// Both paths keep the same number of requests in flight (--in_flight; 1 by
// default: each waits for its answer), so the ratio compares like with
// like. Two in flight is a worker's own pattern at --max_staleness=1: the
// previous step's push is unanswered while the next goes out. Target: PS /
// raw >= 0.5.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bench/call_rate.h"
#include "bench/flag_lists.h"
#include "common/feature_key.h"
#include "common/malloc_tuning.h"
#include "ps/server/curve_keys.h"
#include "ps/server/ps_server.h"
#include "ps/sparse_table.h"
#include "worker/client/ps_client.h"

DEFINE_bool(tune_malloc, true, "apply common/malloc_tuning.h, as dips does");
DEFINE_bool(curve, true, "encrypt and authenticate both paths with CURVE (--transport=tcp)");
DEFINE_string(transport, "tcp",
              "tcp: both paths over TCP loopback; ipc: both over a Unix socket, unencrypted, "
              "the PS path with the job password (PLAIN) as dist-train's workers reach a "
              "server on their own machine");
DEFINE_double(min_seconds, 0.3, "minimum duration of one timed trial");
DEFINE_int32(trials, 5, "paired trials per measurement; medians are reported");
DEFINE_int32(server_threads, 2, "PsServer worker threads");
DEFINE_string(dims, "18,36", "row widths to measure, comma-separated");
DEFINE_string(key_counts, "1000,10000,100000", "unique keys per request, comma-separated");
DEFINE_string(ops, "pull,push", "operations to measure, comma-separated");
DEFINE_int32(in_flight, 1, "requests each path keeps in flight (1: wait for every answer)");
DEFINE_int64(max_keys_per_request, 8192,
             "PsClient splits larger pulls/pushes into requests of this many keys (0: never)");

namespace dips {
namespace {

// Calls per second of `op` over one trial of at least --min_seconds.
double Rate(const std::function<void()>& op) { return CallRate(op, FLAGS_min_seconds); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Paired {
  double a_rate, b_rate, ratio;  // medians over trials; ratio of a to b
};

// Trials of `a` and `b` alternate, so the load of a shared machine hits
// both alike; the ratio is the median of the per-trial ratios.
Paired MeasurePair(const std::function<void()>& a, const std::function<void()>& b) {
  a();  // warm-up: connections, allocations, rows
  b();
  std::vector<double> a_rates, b_rates, ratios;
  for (int t = 0; t < FLAGS_trials; ++t) {
    a_rates.push_back(Rate(a));
    b_rates.push_back(Rate(b));
    ratios.push_back(a_rates.back() / b_rates.back());
  }
  return {Median(a_rates), Median(b_rates), Median(ratios)};
}

// A ROUTER that answers every message with one frame of `reply_bytes`
// (taken from the first frame's first 8 bytes), until it gets an empty frame.
// With --transport=ipc it binds `ipc_path` with the NULL mechanism: PLAIN
// differs from it only in the handshake (no per-message work), and a PLAIN
// server needs a ZAP handler.
void RawEchoServer(zmq::context_t* context, const CurveKeyPair* keys, const std::string& ipc_path,
                   std::string* endpoint, std::promise<void>* bound) {
  zmq::socket_t socket(*context, zmq::socket_type::router);
  socket.set(zmq::sockopt::linger, 0);
  if (!ipc_path.empty()) {
    socket.bind("ipc://" + ipc_path);
  } else {
    if (keys != nullptr) {
      socket.set(zmq::sockopt::curve_server, true);
      socket.set(zmq::sockopt::curve_secretkey, keys->secret_key);
    }
    socket.bind("tcp://127.0.0.1:*");
  }
  *endpoint = socket.get(zmq::sockopt::last_endpoint);
  bound->set_value();
  std::vector<char> payload;
  while (true) {
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(socket, std::back_inserter(request))) continue;
    if (request.size() < 2 || request[1].size() < sizeof(uint64_t)) break;
    uint64_t reply_bytes;
    std::memcpy(&reply_bytes, request[1].data(), sizeof(reply_bytes));
    if (payload.size() < reply_bytes) payload.resize(reply_bytes, 1);
    socket.send(request[0], zmq::send_flags::sndmore);
    // A fresh frame per reply, as the PS server builds one.
    socket.send(zmq::message_t(payload.data(), reply_bytes), zmq::send_flags::none);
  }
}

struct Sizes {
  size_t request;  // bytes the client sends (all frames)
  size_t reply;    // bytes the server sends back
};

void Run() {
  const CurveKeyPair server_keys = GenerateCurveKeyPair().value();
  const CurveKeyPair client_keys = GenerateCurveKeyPair().value();
  const bool ipc = FLAGS_transport == "ipc";
  CHECK(ipc || FLAGS_transport == "tcp") << "--transport must be tcp or ipc";
  const std::string password = GenerateCurveKeyPair().value().secret_key;
  std::string raw_dir = "/tmp/dips-ps-bench-XXXXXX";
  if (ipc) CHECK(mkdtemp(raw_dir.data()) != nullptr);
  const std::string raw_path = ipc ? raw_dir + "/raw" : "";

  // Separate contexts (so separate I/O threads) for the raw server and
  // client, as the PS server and client have.
  zmq::context_t raw_server_context(1);
  zmq::context_t raw_context(1);
  std::string raw_endpoint;
  std::promise<void> bound;
  std::thread raw_server(RawEchoServer, &raw_server_context, FLAGS_curve ? &server_keys : nullptr,
                         raw_path, &raw_endpoint, &bound);
  bound.get_future().wait();
  zmq::socket_t raw(raw_context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  if (!ipc && FLAGS_curve) {
    raw.set(zmq::sockopt::curve_serverkey, server_keys.public_key);
    raw.set(zmq::sockopt::curve_publickey, client_keys.public_key);
    raw.set(zmq::sockopt::curve_secretkey, client_keys.secret_key);
  }
  raw.connect(raw_endpoint);
  std::vector<char> raw_buffer;
  int raw_outstanding = 0;
  auto raw_receive = [&](const Sizes& sizes) {
    zmq::message_t answer;
    CHECK(raw.recv(answer));
    CHECK_EQ(answer.size(), sizes.reply);
    --raw_outstanding;
  };
  // Sends `sizes.request` bytes (the reply size in its first 8), then takes
  // answers until fewer than --in_flight are outstanding.
  auto raw_exchange = [&](const Sizes& sizes) {
    if (raw_buffer.size() < sizes.request) raw_buffer.resize(sizes.request, 2);
    const uint64_t reply = sizes.reply;
    std::memcpy(raw_buffer.data(), &reply, sizeof(reply));
    raw.send(zmq::message_t(raw_buffer.data(), sizes.request), zmq::send_flags::none);
    ++raw_outstanding;
    while (raw_outstanding >= FLAGS_in_flight) raw_receive(sizes);
  };

  std::printf("%-4s %-3s %7s | %12s %8s | %12s %8s | %6s | %12s\n", "op", "dim", "keys",
              "ps keys/s", "ps GB/s", "raw keys/s", "raw GB/s", "ratio", "table keys/s");
  for (const int64_t dim : ParsePositiveList(FLAGS_dims)) {
    SparseTableOptions table_options;
    table_options.dim = dim;
    table_options.optimizer.kind = SparseOptimizerKind::kAdagrad;
    auto table = SparseTable::Create(table_options).value();
    auto reference = SparseTable::Create(table_options).value();
    PsServerOptions server_options;
    server_options.num_worker_threads = FLAGS_server_threads;
    server_options.disable_curve = !FLAGS_curve && !ipc;
    server_options.curve_public_key = server_keys.public_key;
    server_options.curve_secret_key = server_keys.secret_key;
    server_options.allowed_client_public_keys = {client_keys.public_key};
    if (ipc) {
      server_options.local_socket_parent = "/tmp";
      server_options.local_password = password;
    }
    auto server = PsServer::Create(server_options, table.get()).value();
    std::thread serving([&] { CHECK(server->Run().ok()); });
    PsClientOptions client_options;
    client_options.server_endpoints = {ipc ? server->local_endpoint() : server->endpoint()};
    client_options.local_password = password;
    client_options.dim = dim;
    client_options.disable_curve = !FLAGS_curve && !ipc;
    client_options.max_keys_per_request = static_cast<size_t>(FLAGS_max_keys_per_request);
    client_options.server_public_key = server_keys.public_key;
    client_options.client_public_key = client_keys.public_key;
    client_options.client_secret_key = client_keys.secret_key;
    auto client = PsClient::Create(client_options).value();

    for (const int64_t count : ParsePositiveList(FLAGS_key_counts)) {
      const size_t n = static_cast<size_t>(count);
      std::vector<uint64_t> keys(n);
      for (size_t i = 0; i < n; ++i) keys[i] = Mix64(n * 31 + i);
      std::sort(keys.begin(), keys.end());  // unique and sorted, as a batch has them
      // One output buffer per request in flight.
      std::vector<std::vector<float>> values(FLAGS_in_flight, std::vector<float>(n * dim));
      size_t next_values = 0;
      std::deque<Ticket> tickets;
      // Keeps the window: waits for the oldest answers until fewer than
      // --in_flight are outstanding (0: all of them).
      auto wait_until = [&](size_t outstanding) {
        while (tickets.size() > outstanding) {
          CHECK(client->Wait(tickets.front()).ok());
          tickets.pop_front();
        }
      };
      const size_t window = static_cast<size_t>(FLAGS_in_flight) - 1;
      std::vector<float> grads(n * dim, 1e-3f);
      std::vector<uint32_t> occurrences(n, 1);
      const size_t row_bytes = dim * sizeof(float);
      const Sizes pull_sizes{n * sizeof(uint64_t), n * row_bytes};
      const Sizes push_sizes{n * (sizeof(uint64_t) + row_bytes + sizeof(uint32_t)), 0};

      struct Op {
        const char* name;
        Sizes sizes;
        std::function<void()> ps, table;
      };
      const Op ops[] = {
          {"pull", pull_sizes,
           [&] {
             float* out = values[next_values++ % values.size()].data();
             tickets.push_back(client->Pull(keys.data(), n, true, out, nullptr));
             wait_until(window);
           },
           [&] { CHECK(reference->Pull(keys.data(), n, true, values[0].data(), nullptr).ok()); }},
          {"push", push_sizes,
           [&] {
             tickets.push_back(client->Push(keys.data(), n, grads.data(), occurrences.data(), 0));
             wait_until(window);
           },
           [&] { CHECK(reference->Push(keys.data(), n, grads.data(), occurrences.data(), 0).ok()); }},
      };
      for (const Op& op : ops) {
        if (!Listed(FLAGS_ops, op.name)) continue;
        // Raw replies carry at least the 8-byte size word's worth of header.
        const Sizes raw_sizes{op.sizes.request, std::max<size_t>(op.sizes.reply, 16)};
        const Paired paired = MeasurePair(op.ps, [&] { raw_exchange(raw_sizes); });
        wait_until(0);
        while (raw_outstanding > 0) raw_receive(raw_sizes);
        const double ps_rate = paired.a_rate;
        const double raw_rate = paired.b_rate;
        op.table();
        const double table_rate = Rate(op.table);
        const double bytes = static_cast<double>(op.sizes.request + op.sizes.reply);
        std::printf("%-4s %-3lld %7zu | %12.3g %8.3f | %12.3g %8.3f | %6.2f | %12.3g\n", op.name,
                    static_cast<long long>(dim), n, ps_rate * n, ps_rate * bytes / 1e9, raw_rate * n,
                    raw_rate * bytes / 1e9, paired.ratio, table_rate * n);
        std::fflush(stdout);
      }
    }
    CHECK(client->Shutdown().ok());
    serving.join();
  }
  const uint64_t stop = 0;
  raw.send(zmq::message_t(&stop, 0), zmq::send_flags::none);
  raw_server.join();
  if (ipc) {
    raw_server_context.close();  // waits until the listener has let go of the file
    unlink(raw_path.c_str());
    rmdir(raw_dir.c_str());
  }
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // As `dips` does (common/malloc_tuning.h); --notune_malloc for glibc's defaults.
  if (FLAGS_tune_malloc) dips::TuneMalloc();
  google::InitGoogleLogging(argv[0]);
  if (FLAGS_in_flight < 1) {
    std::fprintf(stderr, "ps_bench: --in_flight must be at least 1\n");
    return 2;
  }
  if (FLAGS_transport == "ipc") {
    std::printf("PS vs raw ZeroMQ over a Unix socket (no encryption; PLAIN on the PS path), %d "
                "request(s) in flight on each path\n",
                FLAGS_in_flight);
  } else {
    std::printf("PS vs raw ZeroMQ over TCP loopback, %d request(s) in flight on each path, "
                "CURVE %s\n",
                FLAGS_in_flight, FLAGS_curve ? "on" : "off");
  }
  dips::Run();
  return 0;
}
