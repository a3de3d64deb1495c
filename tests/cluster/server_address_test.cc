// How a server rank's bind address is chosen from --server_bind_host, and the
// endpoint it advertises (worker/dist/server_address.h). ChooseServerHost's
// collective part runs under mpirun in the dist-train tests.
#include "worker/dist/server_address.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dips
