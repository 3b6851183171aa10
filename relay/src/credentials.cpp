#include "credentials.hpp"

#include <cctype>

namespace relay {

namespace {

constexpr size_t kMaxTokenBytes = 128;

bool could_be_token(const std::string& token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  for (const char c : token) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::string> canonical_org_id(std::string_view text) {
  std::string org = lowercase(text);
  if (org.size() != 36) return std::nullopt;
  for (size_t i = 0; i < org.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = org[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return org;
}

std::optional<std::string> credential_token(const std::optional<std::string>& authorization,
                                            const std::optional<std::string>& query_token) {
  std::string token;
  if (authorization) {
    static const std::string scheme = "bearer ";
    if (authorization->size() <= scheme.size() || lowercase(authorization->substr(0, scheme.size())) != scheme)
      return std::nullopt;
    token = authorization->substr(scheme.size());
    token.erase(0, token.find_first_not_of(' '));
    token.erase(token.find_last_not_of(' ') + 1);
  } else if (query_token) {
    token = *query_token;
  }
  if (!could_be_token(token)) return std::nullopt;
  return token;
}

std::optional<std::string> resume_point(const std::optional<std::string>& header,
                                        const std::optional<std::string>& query) {
  if (header && !header->empty()) return header;
  if (query && !query->empty()) return query;
  return std::nullopt;
}

}  // namespace relay
