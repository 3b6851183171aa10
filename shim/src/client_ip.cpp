#include "client_ip.hpp"

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

std::string client_ip(const std::string& peer, const std::string& forwarded_for,
                      const std::vector<std::string>& trusted_proxies) {
  auto trusted = [&](const std::string& address) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), address) != trusted_proxies.end();
  };
  if (!trusted(peer)) return peer;
  // Each proxy appends the address it received from: read from the right,
  // past our own proxies.
  const std::vector<std::string> hops = split_addresses(forwarded_for);
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop)
    if (!trusted(*hop)) return *hop;
  return hops.empty() ? peer : hops.front();
}

}  // namespace shim
