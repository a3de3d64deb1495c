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

}  // namespace dips

#endif  // DIPS_WORKER_DIST_SERVER_ADDRESS_H_
