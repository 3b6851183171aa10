// Cross-origin access: a page of an allowed origin (--allowed-origins) may
// read the API; no other page may. The decision is made here, the headers
// are set by the server.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace relay {

class Cors {
 public:
  // `allowed`: comma-separated origins, exactly as browsers send them
  // (scheme://host[:port]); blanks around them and a trailing '/' are ignored.
  explicit Cors(const std::string& allowed);

  // The Access-Control-Allow-Origin value for a request with this Origin
  // header: the origin itself when it is allowed, else nothing.
  std::optional<std::string> allow_origin(const std::optional<std::string>& origin) const;

  // Preflight (OPTIONS): 204 for an allowed origin, else 403.
  int preflight_status(const std::optional<std::string>& origin) const;

 private:
  std::vector<std::string> origins_;
};

}  // namespace relay
