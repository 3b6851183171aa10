#include "client_ip.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace shim {

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> addresses;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string address = list.substr(start, end - start);
    address.erase(0, address.find_first_not_of(" \t"));
    address.erase(address.find_last_not_of(" \t") + 1);
    if (!address.empty()) addresses.push_back(address);
    start = end + 1;
  }
  return addresses;
}

std::optional<std::string> canonical_address(const std::string& text) {
  for (int family : {AF_INET, AF_INET6}) {
    unsigned char address[sizeof(in6_addr)];
    char canonical[INET6_ADDRSTRLEN];
    if (inet_pton(family, text.c_str(), address) == 1 && inet_ntop(family, address, canonical, sizeof canonical))
      return std::string(canonical);
  }
  return std::nullopt;
}

std::string client_ip(const std::string& peer, const std::string& forwarded_for,
                      const std::vector<std::string>& trusted_proxies) {
  auto trusted = [&](const std::string& address) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), address) != trusted_proxies.end();
  };
  if (!trusted(peer)) return peer;
  // Each proxy appends the address it received from: read from the right,
  // past our own proxies.
  const std::vector<std::string> hops = split_addresses(forwarded_for);
  auto taken = std::find_if(hops.rbegin(), hops.rend(), [&](const std::string& hop) { return !trusted(hop); });
  if (hops.empty()) return peer;
  const std::optional<std::string> address = canonical_address(taken != hops.rend() ? *taken : hops.front());
  return address ? *address : peer;
}

}  // namespace shim
