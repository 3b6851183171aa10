#include "download_fence.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace relay {

namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::vector<std::string> split_hosts(const std::string& text) {
  std::vector<std::string> hosts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    std::string host = text.substr(start, end - start);
    host.erase(0, host.find_first_not_of(" \t"));
    host.erase(host.find_last_not_of(" \t") + 1);
    if (!host.empty()) hosts.push_back(lowercase(host));
    start = end + 1;
  }
  return hosts;
}

bool in_v4(uint32_t address, uint32_t network, int bits) {
  const uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
  return (address & mask) == (network & mask);
}

constexpr uint32_t v4(int a, int b, int c, int d) { return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d); }

std::string v4_refusal(uint32_t a, bool allow_loopback) {
  if (a == v4(169, 254, 169, 254) || a == v4(169, 254, 170, 2)) return "metadata";
  if (in_v4(a, v4(127, 0, 0, 0), 8)) return allow_loopback ? "" : "loopback";
  if (in_v4(a, v4(0, 0, 0, 0), 8)) return "unspecified";
  if (in_v4(a, v4(10, 0, 0, 0), 8) || in_v4(a, v4(172, 16, 0, 0), 12) || in_v4(a, v4(192, 168, 0, 0), 16))
    return "private";
  if (in_v4(a, v4(100, 64, 0, 0), 10)) return "shared (carrier-grade NAT)";
  if (in_v4(a, v4(169, 254, 0, 0), 16)) return "link-local";
  if (in_v4(a, v4(192, 0, 0, 0), 24) || in_v4(a, v4(198, 18, 0, 0), 15)) return "reserved";
  if (in_v4(a, v4(224, 0, 0, 0), 4)) return "multicast";
  if (in_v4(a, v4(240, 0, 0, 0), 4)) return "reserved";
  return "";
}

std::string v6_refusal(const unsigned char* b, bool allow_loopback) {
  static const unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char kZero[16] = {};
  // An IPv4 address written as IPv6 is judged as IPv4.
  if (std::memcmp(b, kMappedPrefix, 12) == 0 || (std::memcmp(b, kZero, 12) == 0 && !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1)))
    return v4_refusal(uint32_t(b[12]) << 24 | uint32_t(b[13]) << 16 | uint32_t(b[14]) << 8 | b[15], allow_loopback);
  if (std::memcmp(b, kZero, 15) == 0 && b[15] == 1) return allow_loopback ? "" : "loopback";
  if (std::memcmp(b, kZero, 16) == 0) return "unspecified";
  // fd00:ec2::254, the metadata service over IPv6.
  static const unsigned char kMetadata[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  if (std::memcmp(b, kMetadata, 16) == 0) return "metadata";
  if ((b[0] & 0xfe) == 0xfc) return "private";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xff) return "multicast";
  // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) embed IPv4 addresses.
  static const unsigned char kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kNat64, 12) == 0)
    return v4_refusal(uint32_t(b[12]) << 24 | uint32_t(b[13]) << 16 | uint32_t(b[14]) << 8 | b[15], allow_loopback);
  if (b[0] == 0x20 && b[1] == 0x02)
    return v4_refusal(uint32_t(b[2]) << 24 | uint32_t(b[3]) << 16 | uint32_t(b[4]) << 8 | b[5], allow_loopback);
  return "";
}

bool valid_host_name(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == ':'; });
}

}  // namespace

std::optional<Url> parse_url(std::string_view text) {
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) return std::nullopt;
  if (const size_t hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
  const size_t colon = text.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  Url url;
  url.scheme = lowercase(text.substr(0, colon));
  if (url.scheme != "http" && url.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(colon + 3);
  const size_t authority_end = std::min(rest.find_first_of("/?"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos || authority.empty()) return std::nullopt;
  std::string_view port_text;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = lowercase(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t port_colon = authority.find(':');
    url.host = lowercase(authority.substr(0, port_colon));
    if (port_colon != std::string_view::npos) port_text = authority.substr(port_colon + 1);
  }
  if (!valid_host_name(url.host)) return std::nullopt;
  url.port = url.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), ::isdigit)) return std::nullopt;
    url.port = std::stoi(std::string(port_text));
    if (url.port < 1 || url.port > 65535) return std::nullopt;
  }
  url.target = std::string(rest.substr(authority_end));
  if (url.target.empty() || url.target.front() == '?') url.target = "/" + url.target;
  return url;
}

std::optional<Url> resolve_location(const Url& base, std::string_view location) {
  if (location.rfind("//", 0) == 0) return parse_url(base.scheme + ":" + std::string(location));
  if (!location.empty() && location.front() == '/') {
    Url url = base;
    if (std::any_of(location.begin(), location.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
      return std::nullopt;
    url.target = std::string(location.substr(0, location.find('#')));
    return url;
  }
  return parse_url(location);
}

std::string address_refusal(const std::string& address, bool allow_loopback) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1)
    return v4_refusal(uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[2]) << 8 | bytes[3],
                      allow_loopback);
  if (inet_pton(AF_INET6, address.c_str(), bytes) == 1) return v6_refusal(bytes, allow_loopback);
  return "not an address";
}

DownloadFence::DownloadFence(std::vector<std::string> hosts, bool allow_loopback)
    : hosts_(std::move(hosts)), allow_loopback_(allow_loopback) {
  for (std::string& host : hosts_) host = lowercase(host);
}

DownloadFence::DownloadFence(const std::string& comma_separated_hosts, bool allow_loopback)
    : DownloadFence(split_hosts(comma_separated_hosts), allow_loopback) {}

bool DownloadFence::host_allowed(const std::string& host) const {
  return std::any_of(hosts_.begin(), hosts_.end(), [&](const std::string& allowed) {
    if (allowed.rfind("*.", 0) == 0) {
      const std::string suffix = allowed.substr(1);
      return host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    return host == allowed;
  });
}

DownloadFence::Verdict DownloadFence::check(const Url& url) const {
  if (url.scheme != "https") return {"", "download refused: plain " + url.scheme};
  if (!host_allowed(url.host)) return {"", "download refused: host " + url.host + " is not allowed"};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &found); rc != 0)
    return {"", "download failed: cannot resolve " + url.host + ": " + gai_strerror(rc)};
  Verdict verdict;
  // Every address must pass: a name that resolves to one public and one
  // private address would otherwise reach inside at the resolver's whim.
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = a->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                                               : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, raw, text, sizeof text) == nullptr) continue;
    if (const std::string refusal = address_refusal(text, allow_loopback_); !refusal.empty()) {
      freeaddrinfo(found);
      return {"", "download refused: address " + std::string(text) + " is " + refusal};
    }
    if (verdict.address.empty()) verdict.address = text;
  }
  freeaddrinfo(found);
  if (verdict.address.empty()) return {"", "download failed: " + url.host + " has no address"};
  return verdict;
}

}  // namespace relay
