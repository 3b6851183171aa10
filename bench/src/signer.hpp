// Signs a webhook the way Vapi's HMAC credential does and vox-shim checks
// it (README "Authentication schemes", scheme hmac with its defaults):
// x-timestamp: Unix seconds, x-signature: hex HMAC-SHA256 of "{timestamp}.{body}".
#pragma once

#include <cstdint>
#include <string>

namespace bench {

std::string hmac_sha256_hex(const std::string& key, const std::string& message);
// The client mode computes a transcript's key the way vox does.
std::string sha256_hex(const std::string& data);

struct SignedHeaders {
  std::string timestamp;
  std::string signature;
};
SignedHeaders sign_webhook(const std::string& secret, const std::string& body, int64_t unix_seconds);

}  // namespace bench
