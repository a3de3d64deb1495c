// Test helper: S parameter-server shards in this process, each a SparseTable
// behind a PsServer on tcp://127.0.0.1 with an OS-chosen port, served by its
// own thread; and the matching client options (with a per-job CURVE setup).
#ifndef DIPS_TESTS_CLIENT_TEST_SHARDS_H_
#define DIPS_TESTS_CLIENT_TEST_SHARDS_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ps/server/curve_keys.h"
#include "ps/server/ps_server.h"
#include "ps/sparse_table.h"
#include "worker/client/ps_client.h"

namespace dips {

// One job's keys: the servers' pair and the clients' pair.
struct JobKeys {
  CurveKeyPair server;
  CurveKeyPair client;
};

inline JobKeys NewJobKeys() {
  JobKeys keys;
  keys.server = GenerateCurveKeyPair().value();
  keys.client = GenerateCurveKeyPair().value();
  return keys;
}

class TestShards {
 public:
  // Starts `num_shards` servers over tables made with `table_options`.
  // A non-empty `local_password` also opens each server's Unix socket
  // (under the test's temporary directory) with that password.
  TestShards(int num_shards, const SparseTableOptions& table_options, const JobKeys& keys,
             int expected_clients = 1, const std::string& local_password = "") {
    for (int s = 0; s < num_shards; ++s) {
      tables_.push_back(SparseTable::Create(table_options).value());
      PsServerOptions options;
      options.curve_public_key = keys.server.public_key;
      options.curve_secret_key = keys.server.secret_key;
      options.allowed_client_public_keys = {keys.client.public_key};
      options.expected_clients = expected_clients;
      options.handshake_timeout_ms = 1000;
      if (!local_password.empty()) {
        options.local_socket_parent = "/tmp";
        options.local_password = local_password;
      }
      servers_.push_back(PsServer::Create(options, tables_.back().get()).value());
    }
    run_status_.resize(num_shards);
    for (int s = 0; s < num_shards; ++s) {
      threads_.emplace_back([this, s] { run_status_[s] = servers_[s]->Run(); });
    }
  }

  ~TestShards() {
    for (auto& server : servers_) server->Stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Stops shard s and waits for its Run to return; returns Run's status.
  Status StopShard(int s) {
    servers_[s]->Stop();
    threads_[s].join();
    return run_status_[s];
  }
  // Waits for every shard's Run to return by itself (after SHUTDOWN).
  std::vector<Status> JoinAll() {
    for (std::thread& t : threads_) t.join();
    return run_status_;
  }

  SparseTable* table(int s) { return tables_[s].get(); }
  PsServer* server(int s) { return servers_[s].get(); }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& server : servers_) out.push_back(server->endpoint());
    return out;
  }

  std::vector<std::string> local_endpoints() const {
    std::vector<std::string> out;
    for (const auto& server : servers_) out.push_back(server->local_endpoint());
    return out;
  }

  // Options for a client of the servers' Unix sockets.
  PsClientOptions LocalClientOptions(const JobKeys& keys, int dim,
                                     const std::string& password) const {
    PsClientOptions options = ClientOptions(keys, dim);
    options.server_endpoints = local_endpoints();
    options.local_password = password;
    return options;
  }

  PsClientOptions ClientOptions(const JobKeys& keys, int dim) const {
    PsClientOptions options;
    options.server_endpoints = endpoints();
    options.dim = dim;
    options.server_public_key = keys.server.public_key;
    options.client_public_key = keys.client.public_key;
    options.client_secret_key = keys.client.secret_key;
    options.request_timeout_ms = 10000;
    return options;
  }

 private:
  std::vector<std::unique_ptr<SparseTable>> tables_;
  std::vector<std::unique_ptr<PsServer>> servers_;
  std::vector<Status> run_status_;
  std::vector<std::thread> threads_;
};

}  // namespace dips

#endif  // DIPS_TESTS_CLIENT_TEST_SHARDS_H_
