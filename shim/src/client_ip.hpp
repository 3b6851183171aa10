// The client a request comes from, for the per-IP rate limits. Behind a load
// balancer the TCP peer is the balancer; when the peer is one of the trusted
// proxies, the client is the nearest X-Forwarded-For address that is not.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shim {

// trusted_proxies: exact addresses. forwarded_for: every X-Forwarded-For
// line, joined by commas in the order received: a comma-separated list of
// addresses, the client first. A header from an untrusted peer is ignored:
// anyone could have written it. The hop taken must be an IPv4 or IPv6
// address, given in its canonical form (so that one client has one rate-limit
// key); when it is not, the client is the peer.
std::string client_ip(const std::string& peer, const std::string& forwarded_for,
                      const std::vector<std::string>& trusted_proxies);

// "10.0.0.1, 10.0.0.2" → {"10.0.0.1", "10.0.0.2"}.
std::vector<std::string> split_addresses(const std::string& list);

// The canonical text of an IPv4 or IPv6 address; nothing for anything else.
std::optional<std::string> canonical_address(const std::string& text);

}  // namespace shim
