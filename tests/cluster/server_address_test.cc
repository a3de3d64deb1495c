// How a server rank's bind address is chosen from --server_bind_host, and the
// endpoint it advertises (worker/dist/server_address.h). ChooseServerHost's
// collective part runs under mpirun in the dist-train tests.
#include "worker/dist/server_address.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

namespace dips {
namespace {

TEST(ExplicitServerHost, TakesAnIpv4AddressAsIs) {
  StatusOr<std::string> host = ExplicitServerHost("10.1.2.3");
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(*host, "10.1.2.3");
}

TEST(ExplicitServerHost, TakesTheAddressOfANetworkInterface) {
  // Every Linux host has the loopback interface, with 127.0.0.1.
  StatusOr<std::string> host = ExplicitServerHost("lo");
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(*host, "127.0.0.1");
}

TEST(ExplicitServerHost, ResolvesAHostName) {
  StatusOr<std::string> host = ExplicitServerHost("localhost");
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->rfind("127.", 0), 0u) << *host;
}

TEST(ExplicitServerHost, RejectsWhatIsNoneOfThoseNamingTheFlag) {
  StatusOr<std::string> host = ExplicitServerHost("no-such-interface-or-host.invalid");
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(host.status().message().find("--server_bind_host=no-such-interface-or-host.invalid"),
            std::string::npos)
      << host.status().message();
}

TEST(AdvertisedEndpoint, KeepsThePortAndReplacesTheHost) {
  EXPECT_EQ(AdvertisedEndpoint("tcp://0.0.0.0:41234", "10.0.0.5"), "tcp://10.0.0.5:41234");
  EXPECT_EQ(AdvertisedEndpoint("tcp://127.0.0.1:5", "127.0.0.1"), "tcp://127.0.0.1:5");
}

TEST(ServerContact, RoundTripsAndRejectsMalformedText) {
  const ServerContact c{"tcp://10.0.0.5:41234", "ipc:///tmp/dips-ps-Ab3x9Q/shard", "b00t"};
  StatusOr<ServerContact> back = DecodeServerContact(EncodeServerContact(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tcp, c.tcp);
  EXPECT_EQ(back->local, c.local);
  EXPECT_EQ(back->boot_id, c.boot_id);
  back = DecodeServerContact(EncodeServerContact({"tcp://10.0.0.5:1", "", ""}));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->local.empty());
  for (const std::string bad : {"", "tcp://10.0.0.5:1", "tcp://a:1\nipc:///x\nid\nmore",
                                "ipc:///x\ntcp://a:1\nid", "tcp://a:1\nhttp://x\nid"}) {
    EXPECT_EQ(DecodeServerContact(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ChooseServerEndpoint, TakesTheUnixSocketOnlyOnTheSameKernelWhenItIsThere) {
  const std::string boot_id = ThisKernelBootId();
  ASSERT_EQ(boot_id.size(), 36u) << boot_id;  // a UUID
  char dir_template[] = "/tmp/dips-contact-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/shard";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  const ServerContact here{"tcp://127.0.0.1:5", "ipc://" + path, boot_id};
  EXPECT_EQ(ChooseServerEndpoint(here, boot_id), "ipc://" + path);
  // Another machine (or an unknown one): TCP.
  EXPECT_EQ(ChooseServerEndpoint(here, "another-boot-id"), here.tcp);
  EXPECT_EQ(ChooseServerEndpoint({here.tcp, here.local, ""}, boot_id), here.tcp);
  // No Unix socket published, or not visible from here: TCP.
  EXPECT_EQ(ChooseServerEndpoint({here.tcp, "", boot_id}, boot_id), here.tcp);
  EXPECT_EQ(ChooseServerEndpoint({here.tcp, "ipc://" + path + "-gone", boot_id}, boot_id),
            here.tcp);
  // A plain file where the socket should be: TCP.
  const std::string file = std::string(dir_template) + "/file";
  { std::ofstream(file) << "x"; }
  EXPECT_EQ(ChooseServerEndpoint({here.tcp, "ipc://" + file, boot_id}, boot_id), here.tcp);

  close(fd);
  unlink(path.c_str());
  unlink(file.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace dips
