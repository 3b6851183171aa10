#include "cors.hpp"

#include <algorithm>
#include <sstream>

namespace relay {

Cors::Cors(const std::string& allowed) {
  std::stringstream list(allowed);
  for (std::string origin; std::getline(list, origin, ',');) {
    origin.erase(0, origin.find_first_not_of(" \t"));
    origin.erase(origin.find_last_not_of(" \t") + 1);
    if (!origin.empty() && origin.back() == '/') origin.pop_back();
    if (!origin.empty()) origins_.push_back(origin);
  }
}

std::optional<std::string> Cors::allow_origin(const std::optional<std::string>& origin) const {
  if (!origin || std::find(origins_.begin(), origins_.end(), *origin) == origins_.end()) return std::nullopt;
  return origin;
}

int Cors::preflight_status(const std::optional<std::string>& origin) const { return allow_origin(origin) ? 204 : 403; }

}  // namespace relay
