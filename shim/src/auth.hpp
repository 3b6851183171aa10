// Webhook authentication: three schemes, always over the raw body bytes,
// every comparison constant-time (OpenSSL CRYPTO_memcmp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace shim {

enum class Scheme {
  kSharedSecret,      // x-vapi-secret: S, or Authorization: Bearer S
  kHmac,              // Vapi's HMAC credential (HMACAuthenticationPlan)
  kStandardWebhooks,  // webhook-id, webhook-timestamp, webhook-signature
};

struct Secret {
  Scheme scheme = Scheme::kSharedSecret;
  std::string secret;  // standard webhooks: "whsec_" + base64 key
  // HMAC only, named after Vapi's HMACAuthenticationPlan.
  std::string algorithm = "sha256";  // sha256 | sha512 | sha1
  std::string signature_header = "x-signature";
  std::string signature_encoding = "hex";  // hex | base64
  std::string signature_prefix;            // e.g. "sha256="
  bool include_timestamp = true;           // a timestamp header is required and checked
  std::string timestamp_header = "x-timestamp";
  std::string payload_format;  // placeholders {timestamp} and {body};
                               // default "{timestamp}.{body}", or "{body}" without timestamp
};

// Reads one secret from its JSON description, the same shape in the shim's
// secrets file and in vox.webhook_secrets_for(): {"scheme": "shared" | "hmac"
// | "standard-webhooks", "secret": ..., and for hmac optionally "algorithm",
// "signature_header", "signature_encoding", "signature_prefix",
// "include_timestamp", "timestamp_header", "payload_format",
// "message_id_header"}. message_id_header is accepted and ignored: no HMAC
// format signs that header, so anyone could change it, and a delivery id is
// only taken from what a signature covers. Throws std::invalid_argument naming
// the bad field (never quoting the secret).
Secret parse_secret(const nlohmann::json& description);

// Case-insensitive request header lookup.
using HeaderLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct Verdict {
  bool ok = false;
  // When refused: missing_signature (no scheme's signature header at all),
  // bad_signature, missing_timestamp, bad_timestamp, stale_timestamp,
  // future_timestamp or no_secret. With several secrets, the most specific
  // reason any of them gave. For the operator (logs, metrics): a sender is
  // told one reason for every refusal.
  std::string reason;
  std::optional<std::string> delivery_id;  // Standard Webhooks' webhook-id, which its signature covers
};

// Accepts the request when any one of secrets accepts it. Timestamps (Unix
// seconds; values of 10^11 and more are read as milliseconds) must lie within
// tolerance_seconds of now in either direction.
Verdict verify(const std::vector<Secret>& secrets, const HeaderLookup& header, std::string_view body,
               int64_t now_unix_seconds, int64_t tolerance_seconds);

}  // namespace shim
