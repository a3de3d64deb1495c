// Which address a server rank binds and advertises to the workers. Servers
// bind an OS-chosen port on one address, never on all interfaces unless
// asked (--bind_all_interfaces), and the endpoints travel over MPI
// (cluster.h), so no port is fixed and nothing listens on a public address by
// default. docs/operations.md explains the choice for users.
#ifndef DIPS_WORKER_DIST_SERVER_ADDRESS_H_
#define DIPS_WORKER_DIST_SERVER_ADDRESS_H_

#include <string>

#include "common/status.h"
#include "worker/dist/cluster.h"

namespace dips {

// The IPv4 address this rank's server binds ("" on workers). Collective:
// every rank contributes its host name, so all ranks must call it.
//   - server_bind_host set: ExplicitServerHost(server_bind_host);
//   - every rank on one host: 127.0.0.1 (loopback only);
//   - otherwise: this host's name resolved, skipping loopback addresses
//     (FailedPrecondition, naming the flag to pass, if only loopback is left).
StatusOr<std::string> ChooseServerHost(Cluster* cluster, const std::string& server_bind_host);

// `value` as an IPv4 address: taken as is if it is one, else the address of
// the network interface of that name (e.g. "eth0", "lo"), else the host name
// resolved. InvalidArgument naming --server_bind_host when none applies.
StatusOr<std::string> ExplicitServerHost(const std::string& value);

// The endpoint workers connect to: the port of `bound` ("tcp://0.0.0.0:41234"
// when bound on all interfaces) on `host`, e.g. "tcp://10.0.0.5:41234".
std::string AdvertisedEndpoint(const std::string& bound, const std::string& host);

// What a server rank publishes to the workers: its TCP endpoint and, when it
// also listens on a Unix socket (PsServerOptions::local_socket_parent), that
// endpoint and the boot id of its host's kernel.
struct ServerContact {
  std::string tcp;      // "tcp://10.0.0.5:41234"
  std::string local;    // "ipc:///tmp/dips-ps-Ab3x9Q/shard", or empty
  std::string boot_id;  // ThisKernelBootId() of the server's host, or empty
};

// One line per field; DecodeServerContact(EncodeServerContact(c)) == c.
std::string EncodeServerContact(const ServerContact& contact);
// InvalidArgument unless `text` came from EncodeServerContact with a tcp
// endpoint.
StatusOr<ServerContact> DecodeServerContact(const std::string& text);

// This kernel's random boot id (/proc/sys/kernel/random/boot_id): equal on
// two ranks only when they run on one machine (containers on one host share
// it). Empty when it cannot be read.
std::string ThisKernelBootId();

// The endpoint a worker on a kernel booted as `my_boot_id` connects to: the
// Unix socket when the server published one, runs on the same kernel and the
// socket is visible here (a container with its own /tmp does not see it),
// else TCP.
std::string ChooseServerEndpoint(const ServerContact& contact, const std::string& my_boot_id);

}  // namespace dips

#endif  // DIPS_WORKER_DIST_SERVER_ADDRESS_H_
