// The fence around recording downloads: a recording's URL comes in a
// webhook, so fetching it is a door into the clinic's network. Only https,
// only allowed hosts, and never an address inside the network (loopback,
// private, link-local, metadata), checked again on every redirect.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay {

struct Url {
  std::string scheme;  // lowercase
  std::string host;    // lowercase; an IPv6 literal without its brackets
  int port = 0;
  std::string target;  // path and query, as sent; never empty
};

// An absolute http(s) URL without user info; the fragment dropped. Nothing
// for anything else, or for control characters and spaces.
std::optional<Url> parse_url(std::string_view text);
// A redirect's Location against the URL that answered it: absolute,
// scheme-relative or an absolute path.
std::optional<Url> resolve_location(const Url& base, std::string_view location);
// What is wrong with connecting to `address` (an IPv4 or IPv6 literal):
// "loopback", "private", "link-local", "metadata", ...; empty when public.
std::string address_refusal(const std::string& address, bool allow_loopback);

class DownloadFence {
 public:
  // `hosts`: exact names, or "*.example.com" for its subdomains.
  DownloadFence(std::vector<std::string> hosts, bool allow_loopback);
  DownloadFence(const std::string& comma_separated_hosts, bool allow_loopback);

  struct Verdict {
    std::string address;  // where to connect (the name resolved once, here)
    std::string refusal;  // empty when allowed; otherwise why, for last_error
  };
  // Scheme and host, then every address the host resolves to.
  Verdict check(const Url& url) const;

 private:
  bool host_allowed(const std::string& host) const;

  std::vector<std::string> hosts_;
  bool allow_loopback_;
};

}  // namespace relay
