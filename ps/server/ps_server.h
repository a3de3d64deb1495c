// PsServer: one parameter-server shard on the network. It serves a
// SparseTable (borrowed; see Create) to PsClients over ZeroMQ: a ROUTER socket
// faces the network, a small pool of worker threads answers requests, and
// every request is checked against docs/wire_protocol.md before it touches
// the table. A malformed request gets an error reply and is counted; a peer
// that cannot even finish the ZeroMQ/CURVE handshake is dropped and counted.
// The server keeps serving either way.
//
// Lifecycle: Create binds the socket (so endpoint() is known at once, before
// any client connects); Run serves on the calling thread until Stop() is
// called or every expected client has sent SHUTDOWN, then drains its replies
// and returns.
//
// Thread-safety: Run is called once, from one thread. Stop, endpoint and
// counters may be called from any thread at any time.
#ifndef DIPS_PS_SERVER_PS_SERVER_H_
#define DIPS_PS_SERVER_PS_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {

struct PsServerOptions {
  // Interface to bind. The default serves only this machine; a cluster job
  // passes the host's own address. "*" (all interfaces) is honoured but
  // never a default.
  std::string bind_host = "127.0.0.1";
  int port = 0;  // 0 = chosen by the OS; read it back with endpoint()

  int num_worker_threads = 2;  // threads calling the table, >= 1

  // CURVE (docs/wire_protocol.md, "Security"): the server's key pair as Z85
  // text, and the client public keys it admits. Required unless
  // `disable_curve`. An empty allow list admits any client that knows the
  // server's public key (weaker: the public key is not secret).
  std::string curve_public_key;
  std::string curve_secret_key;
  std::vector<std::string> allowed_client_public_keys;
  // Plain TCP without authentication or encryption. Only for tests and
  // benchmarks inside one process; never for a job on a network.
  bool disable_curve = false;

  // Clients on this machine (docs/wire_protocol.md, "Security"). When not
  // empty, the server also listens on a Unix socket in a directory it
  // creates under this one (mode 0700, so other users cannot reach the
  // socket; removed with the server), and admits there only clients that
  // present `local_password` with ZeroMQ's PLAIN mechanism. Traffic on it is
  // not encrypted: it never leaves the kernel. Needs CURVE (not
  // disable_curve) and a password of at least 32 characters.
  std::string local_socket_parent;
  std::string local_password;

  // Distinct client ids that must send BARRIER before the barrier opens, and
  // SHUTDOWN before Run returns. >= 1.
  int expected_clients = 1;

  // Run returns DeadlineExceeded when no message arrives for this long, so a
  // server whose workers all died does not wait forever. 0 = wait forever.
  int64_t receive_timeout_ms = 0;
  // A connection that has not finished its handshake after this long is
  // dropped (bounds half-open connections from junk peers).
  int handshake_timeout_ms = 5000;
  // Largest message accepted and largest reply built, in bytes. A peer that
  // sends more is disconnected by ZeroMQ; a request whose reply would be
  // larger is answered ResourceExhausted.
  int64_t max_message_bytes = int64_t{1} << 30;
  // How long Run's return waits for queued replies to reach their clients.
  int linger_ms = 1000;

  // Checkpoints (docs/checkpoints.md). A CHECKPOINT request writes this
  // shard's rows to checkpoint_root/<name>/shard-<index>-of-<count>.rows;
  // the client names only the checkpoint, never a path. Empty root: such
  // requests are refused.
  std::string checkpoint_root;
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  // The table's optimiser: fixes the optimiser state stored with each row.
  SparseOptimizerKind table_optimizer = SparseOptimizerKind::kAdam;
};

// InvalidArgument for out-of-range fields or invalid/mismatched CURVE keys.
Status ValidatePsServerOptions(const PsServerOptions& options);

struct PsServerCounters {
  uint64_t requests_served = 0;     // answered OK
  uint64_t requests_rejected = 0;   // answered with an error
  uint64_t handshake_failures = 0;  // ZMTP/CURVE handshakes that failed
  uint64_t auth_denied = 0;         // CURVE keys not allowed, wrong local passwords
};

class PsServer {
 public:
  // Binds tcp://bind_host:port (and the Unix socket, if asked). `table` is
  // not owned and must outlive the server; its dim is the only dim the
  // server accepts.
  // Errors: InvalidArgument for bad options (and a Unix socket path too long
  // for sockaddr_un); Unavailable when a bind fails (address in use, unknown
  // interface, no directory for the Unix socket).
  static StatusOr<std::unique_ptr<PsServer>> Create(const PsServerOptions& options,
                                                    SparseTable* table);
  virtual ~PsServer() = default;

  // The bound endpoint, e.g. "tcp://127.0.0.1:40123" (with the OS's port).
  virtual const std::string& endpoint() const = 0;
  // The Unix socket's endpoint, e.g. "ipc:///tmp/dips-ps-Ab3x9Q/shard";
  // empty without local_socket_parent.
  virtual const std::string& local_endpoint() const = 0;

  // Serves until Stop() or the last expected SHUTDOWN. Returns OK then;
  // DeadlineExceeded after receive_timeout_ms of silence; FailedPrecondition
  // when called twice; Internal on a socket failure.
  virtual Status Run() = 0;

  // Makes Run return soon (within ~100 ms). Safe before, during and after Run.
  virtual void Stop() = 0;

  virtual PsServerCounters counters() const = 0;
};

}  // namespace dips

#endif  // DIPS_PS_SERVER_PS_SERVER_H_
