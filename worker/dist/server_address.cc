#include "worker/dist/server_address.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <vector>

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

std::string EncodeServerContact(const ServerContact& contact) {
  return contact.tcp + "\n" + contact.local + "\n" + contact.boot_id;
}

StatusOr<ServerContact> DecodeServerContact(const std::string& text) {
  std::vector<std::string> fields(1);
  for (char ch : text) {
    if (ch == '\n') {
      fields.emplace_back();
    } else {
      fields.back() += ch;
    }
  }
  ServerContact c;
  if (fields.size() == 3) c = {fields[0], fields[1], fields[2]};
  if (fields.size() != 3 || c.tcp.rfind("tcp://", 0) != 0 ||
      (!c.local.empty() && c.local.rfind("ipc://", 0) != 0)) {
    return InvalidArgumentError("malformed server contact '" + text + "'");
  }
  return c;
}

std::string ThisKernelBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!std::getline(in, id)) return "";
  return id;
}

std::string ChooseServerEndpoint(const ServerContact& contact, const std::string& my_boot_id) {
  if (contact.local.empty() || contact.boot_id.empty() || contact.boot_id != my_boot_id) {
    return contact.tcp;
  }
  struct stat st;
  const std::string path = contact.local.substr(std::string("ipc://").size());
  if (stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return contact.tcp;
  return contact.local;
}

}  // namespace dips
