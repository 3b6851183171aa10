#include "client_ip.hpp"

#include <gtest/gtest.h>

namespace shim {

const std::vector<std::string> kProxies = {"10.0.0.5", "10.0.0.6"};

TEST(ClientIp, UntrustedPeerIsTheClientWhateverItForwards) {
  EXPECT_EQ(client_ip("203.0.113.9", "198.51.100.1", kProxies), "203.0.113.9");
  EXPECT_EQ(client_ip("203.0.113.9", "", {}), "203.0.113.9");
}

TEST(ClientIp, TrustedProxyNamesTheNearestUntrustedHop) {
  EXPECT_EQ(client_ip("10.0.0.5", "198.51.100.1", kProxies), "198.51.100.1");
  // A client's own forged entry sits left of what our proxies appended.
  EXPECT_EQ(client_ip("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.0.0.6", kProxies), "198.51.100.1");
}

TEST(ClientIp, OnlyProxiesOrNoHeader) {
  EXPECT_EQ(client_ip("10.0.0.5", "10.0.0.6", kProxies), "10.0.0.6");
  EXPECT_EQ(client_ip("10.0.0.5", "", kProxies), "10.0.0.5");
}

TEST(ClientIp, TheHopTakenMustBeAnAddressInItsCanonicalForm) {
  EXPECT_EQ(client_ip("10.0.0.5", "1.2.3.4, not-an-address", kProxies), "10.0.0.5");
  EXPECT_EQ(client_ip("10.0.0.5", std::string(8000, 'x'), kProxies), "10.0.0.5");
  EXPECT_EQ(client_ip("10.0.0.5", "2001:DB8:0:0::1", kProxies), "2001:db8::1");
  EXPECT_EQ(client_ip("10.0.0.5", "198.51.100.1:8080", kProxies), "10.0.0.5");
}

TEST(ClientIp, SplitsAndTrims) {
  EXPECT_EQ(split_addresses(" a ,b,, c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_addresses("").empty());
}

}  // namespace shim
