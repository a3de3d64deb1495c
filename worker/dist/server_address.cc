#include "worker/dist/server_address.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace dips {
namespace {

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

std::string Ipv4Text(const in_addr& ip) {
  char text[INET_ADDRSTRLEN] = {};
  return inet_ntop(AF_INET, &ip, text, sizeof(text)) != nullptr ? text : "";
}

// This host's IPv4 address on network interface `name`, or "" if there is
// no such interface (or it has no IPv4 address).
std::string InterfaceAddress(const std::string& name) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string address;
  for (const ifaddrs* i = list; i != nullptr && address.empty(); i = i->ifa_next) {
    if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET && name == i->ifa_name) {
      address = Ipv4Text(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr);
    }
  }
  freeifaddrs(list);
  return address;
}

// The first IPv4 address `host` resolves to, skipping loopback ones unless
// `allow_loopback`.
StatusOr<std::string> ResolveHost(const std::string& host, bool allow_loopback) {
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return UnavailableError("cannot resolve host name '" + host + "': " + gai_strerror(rc));
  }
  std::string address;
  for (const addrinfo* a = found; a != nullptr && address.empty(); a = a->ai_next) {
    const in_addr ip = reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
    if (!allow_loopback && (ntohl(ip.s_addr) >> 24) == 127) continue;
    address = Ipv4Text(ip);
  }
  freeaddrinfo(found);
  if (address.empty()) {
    return FailedPreconditionError("host name '" + host +
                                   "' resolves only to loopback addresses, which ranks on other "
                                   "hosts cannot reach; pass --server_bind_host=<network "
                                   "interface>, e.g. eth0");
  }
  return address;
}

}  // namespace

StatusOr<std::string> ExplicitServerHost(const std::string& value) {
  in_addr ip;
  if (inet_pton(AF_INET, value.c_str(), &ip) == 1) return value;
  std::string address = InterfaceAddress(value);
  if (!address.empty()) return address;
  StatusOr<std::string> resolved = ResolveHost(value, /*allow_loopback=*/true);
  if (!resolved.ok()) {
    return InvalidArgumentError("--server_bind_host=" + value +
                                " is neither an IPv4 address, a network interface of this "
                                "host nor a host name that resolves (" +
                                resolved.status().message() + ")");
  }
  return resolved;
}

StatusOr<std::string> ChooseServerHost(Cluster* cluster, const std::string& server_bind_host) {
  const std::string me = HostName();
  ASSIGN_OR_RETURN(std::vector<std::string> hosts, cluster->AllGather(me));
  if (!cluster->is_server()) return std::string();
  if (!server_bind_host.empty()) return ExplicitServerHost(server_bind_host);
  bool one_host = true;
  for (const std::string& h : hosts) one_host = one_host && h == me;
  if (one_host) return std::string("127.0.0.1");
  return ResolveHost(me, /*allow_loopback=*/false);
}

std::string AdvertisedEndpoint(const std::string& bound, const std::string& host) {
  return "tcp://" + host + bound.substr(bound.rfind(':'));
}

}  // namespace dips
