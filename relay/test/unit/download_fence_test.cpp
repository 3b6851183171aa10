#include "download_fence.hpp"

#include <gtest/gtest.h>

namespace relay {
namespace {

TEST(DownloadFence, ParsesAbsoluteUrls) {
  const auto url = parse_url("HTTPS://Storage.Vapi.AI/abc-mono.wav?token=x#frag");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "storage.vapi.ai");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/abc-mono.wav?token=x");
  const auto v6 = parse_url("https://[::1]:8443");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8443);
  EXPECT_EQ(v6->target, "/");
}

TEST(DownloadFence, RefusesUnusableUrls) {
  for (const char* text : {"ftp://a/b", "https://user@host/x", "https://host:0/", "https://host:99999/",
                           "https://ho st/", "https://host/a b", "https://host/\r\nX: y", "//host/x", "https://"})
    EXPECT_FALSE(parse_url(text)) << text;
}

TEST(DownloadFence, ResolvesRedirectLocations) {
  const Url base = *parse_url("https://a.example:8443/x?y");
  EXPECT_EQ(resolve_location(base, "/z?q")->target, "/z?q");
  EXPECT_EQ(resolve_location(base, "/z?q")->port, 8443);
  EXPECT_EQ(resolve_location(base, "//b.example/w")->host, "b.example");
  EXPECT_EQ(resolve_location(base, "http://10.0.0.1/")->scheme, "http");
  EXPECT_FALSE(resolve_location(base, "relative/path"));
}

TEST(DownloadFence, ClassifiesAddresses) {
  EXPECT_EQ(address_refusal("169.254.169.254", true), "metadata");
  EXPECT_EQ(address_refusal("fd00:ec2::254", true), "metadata");
  EXPECT_EQ(address_refusal("127.0.0.1", false), "loopback");
  EXPECT_EQ(address_refusal("127.0.0.1", true), "");
  EXPECT_EQ(address_refusal("::1", false), "loopback");
  EXPECT_EQ(address_refusal("::ffff:127.0.0.1", false), "loopback");
  EXPECT_EQ(address_refusal("::ffff:10.1.2.3", true), "private");
  EXPECT_EQ(address_refusal("10.1.2.3", true), "private");
  EXPECT_EQ(address_refusal("172.31.255.1", true), "private");
  EXPECT_EQ(address_refusal("172.32.0.1", true), "");
  EXPECT_EQ(address_refusal("192.168.1.1", true), "private");
  EXPECT_EQ(address_refusal("fc00::1", true), "private");
  EXPECT_EQ(address_refusal("169.254.1.1", true), "link-local");
  EXPECT_EQ(address_refusal("fe80::1", true), "link-local");
  EXPECT_EQ(address_refusal("0.0.0.0", true), "unspecified");
  EXPECT_EQ(address_refusal("::", true), "unspecified");
  EXPECT_EQ(address_refusal("100.64.0.1", true), "shared (carrier-grade NAT)");
  EXPECT_EQ(address_refusal("64:ff9b::a01:203", true), "private");
  EXPECT_EQ(address_refusal("2002:a00:1::", true), "private");
  EXPECT_EQ(address_refusal("8.8.8.8", false), "");
  EXPECT_EQ(address_refusal("2606:4700::1111", false), "");
}

TEST(DownloadFence, ChecksSchemeHostAndAddress) {
  const DownloadFence fence("storage.vapi.ai, *.example.test ,localhost", false);
  EXPECT_EQ(fence.check(*parse_url("http://storage.vapi.ai/x")).refusal, "download refused: plain http");
  EXPECT_EQ(fence.check(*parse_url("https://evil.test/x")).refusal, "download refused: host evil.test is not allowed");
  EXPECT_EQ(fence.check(*parse_url("https://example.test/x")).refusal,
            "download refused: host example.test is not allowed");
  EXPECT_EQ(fence.check(*parse_url("https://localhost/x")).refusal.rfind("download refused: address ", 0), 0u);
  const DownloadFence loopback("localhost,127.0.0.1,169.254.169.254", true);
  EXPECT_EQ(loopback.check(*parse_url("https://127.0.0.1:9/x")).address, "127.0.0.1");
  EXPECT_EQ(loopback.check(*parse_url("https://169.254.169.254/latest")).refusal,
            "download refused: address 169.254.169.254 is metadata");
}

}  // namespace
}  // namespace relay
