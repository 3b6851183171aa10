// The client a request comes from, for the per-IP rate limits. Behind a load
// balancer the TCP peer is the balancer; when the peer is one of the trusted
// proxies, the client is the nearest X-Forwarded-For address that is not.
#pragma once

#include <string>
#include <vector>

namespace shim {

// trusted_proxies: exact addresses. forwarded_for: the header's value, a
// comma-separated list of addresses, the client first. A header from an
// untrusted peer is ignored: anyone could have written it.
std::string client_ip(const std::string& peer, const std::string& forwarded_for,
                      const std::vector<std::string>& trusted_proxies);

// "10.0.0.1, 10.0.0.2" → {"10.0.0.1", "10.0.0.2"}.
std::vector<std::string> split_addresses(const std::string& list);

}  // namespace shim
