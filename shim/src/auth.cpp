#include "auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>
#include <stdexcept>

#include "digest.hpp"

namespace shim {
namespace {

using vox::hmac;
using vox::sha256;

constexpr std::string_view kMissingSignature = "missing_signature";
constexpr std::string_view kBadSignature = "bad_signature";
constexpr std::string_view kMissingTimestamp = "missing_timestamp";
constexpr std::string_view kBadTimestamp = "bad_timestamp";
constexpr std::string_view kStaleTimestamp = "stale_timestamp";
constexpr std::string_view kFutureTimestamp = "future_timestamp";
constexpr std::string_view kNoSecret = "no_secret";

// What one secret made of the request.
struct Outcome {
  bool ok = false;
  std::string_view refusal;  // when not ok
  std::optional<std::string> delivery_id;
};

Outcome accept(std::optional<std::string> delivery_id) { return {true, {}, std::move(delivery_id)}; }
Outcome refuse(std::string_view reason) { return {false, reason, std::nullopt}; }

// With several secrets the operator wants the refusal that got furthest: a
// timestamp is only judged once a signature matched, so a timestamp reason
// means "authentic but replayed or skewed", which beats a plain mismatch.
int specificity(std::string_view reason) {
  if (reason == kStaleTimestamp || reason == kFutureTimestamp || reason == kBadTimestamp) return 4;
  if (reason == kBadSignature) return 3;
  if (reason == kMissingTimestamp) return 2;
  return 1;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Strict, padded, canonical standard base64. EVP_DecodeBlock alone trims
// whitespace, decodes padding as zero bytes and ignores the bits past the last
// byte, so that one signature would have several accepted spellings.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > INT_MAX) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    if (!is_base64_char(text[i])) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int written =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  out.resize(static_cast<size_t>(written) - padding);
  std::string canonical(text.size() + 1, '\0');  // EVP_EncodeBlock adds a NUL
  canonical.resize(static_cast<size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(canonical.data()),
                                                       reinterpret_cast<const unsigned char*>(out.data()),
                                                       static_cast<int>(out.size()))));
  if (canonical != text) return std::nullopt;
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out(text.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<char>(high * 16 + low);
  }
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  // Lengths are public (fixed by the algorithm); only contents need hiding.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const EVP_MD* digest_named(std::string_view algorithm) {
  if (algorithm == "sha256") return EVP_sha256();
  if (algorithm == "sha512") return EVP_sha512();
  if (algorithm == "sha1") return EVP_sha1();
  return nullptr;
}

struct FormatPiece {
  enum Kind { kLiteral, kTimestamp, kBody } kind;
  std::string_view literal;
};

// Splits payload_format into literals and placeholders; nullopt when a '{'
// opens anything but {timestamp} or {body}, so that formats meant for other
// senders (Vapi also knows {method}, {url}, {svix-id}) fail loudly.
std::optional<std::vector<FormatPiece>> parse_format(std::string_view format) {
  std::vector<FormatPiece> pieces;
  size_t start = 0;
  while (start < format.size()) {
    const size_t open = format.find('{', start);
    if (open != start) {
      const size_t end = open == std::string_view::npos ? format.size() : open;
      pieces.push_back({FormatPiece::kLiteral, format.substr(start, end - start)});
      start = end;
      continue;
    }
    const size_t close = format.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view name = format.substr(open + 1, close - open - 1);
    if (name == "timestamp") {
      pieces.push_back({FormatPiece::kTimestamp, {}});
    } else if (name == "body") {
      pieces.push_back({FormatPiece::kBody, {}});
    } else {
      return std::nullopt;
    }
    start = close + 1;
  }
  return pieces;
}

bool contains(const std::vector<FormatPiece>& pieces, FormatPiece::Kind kind) {
  for (const FormatPiece& piece : pieces) {
    if (piece.kind == kind) return true;
  }
  return false;
}

std::string_view effective_format(const Secret& secret) {
  if (!secret.payload_format.empty()) return secret.payload_format;
  return secret.include_timestamp ? "{timestamp}.{body}" : "{body}";
}

std::string_view strip_whsec(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) secret.remove_prefix(kPrefix.size());
  return secret;
}

std::string field_error(std::string_view field, std::string_view problem) {
  return "webhook secret: field '" + std::string(field) + "' " + std::string(problem);
}

// Why a secret cannot verify anything, naming the field and never quoting a
// value (a secret pasted into the wrong field must not reach the logs).
std::optional<std::string> find_problem(const Secret& secret) {
  if (secret.secret.empty()) return field_error("secret", "must not be empty");
  switch (secret.scheme) {
    case Scheme::kSharedSecret:
      return std::nullopt;
    case Scheme::kStandardWebhooks: {
      const std::optional<std::string> key = base64_decode(strip_whsec(secret.secret));
      if (!key || key->empty()) return field_error("secret", "must be base64, optionally prefixed with whsec_");
      return std::nullopt;
    }
    case Scheme::kHmac: {
      if (digest_named(secret.algorithm) == nullptr) {
        return field_error("algorithm", "must be sha256, sha512 or sha1");
      }
      if (secret.signature_encoding != "hex" && secret.signature_encoding != "base64") {
        return field_error("signature_encoding", "must be hex or base64");
      }
      if (secret.signature_header.empty()) return field_error("signature_header", "must not be empty");
      if (secret.timestamp_header.empty()) return field_error("timestamp_header", "must not be empty");
      const std::optional<std::vector<FormatPiece>> pieces = parse_format(effective_format(secret));
      if (!pieces) {
        return field_error("payload_format", "may only use the placeholders {timestamp} and {body}");
      }
      if (!contains(*pieces, FormatPiece::kBody)) return field_error("payload_format", "must contain {body}");
      // A timestamp that is checked but not signed could be replaced at will.
      if (secret.include_timestamp && !contains(*pieces, FormatPiece::kTimestamp))
        return field_error("payload_format", "must contain {timestamp} when include_timestamp is true");
      return std::nullopt;
    }
  }
  return field_error("scheme", "must be shared, hmac or standard-webhooks");
}

// Empty when fresh, else the refusal.
std::string_view judge_timestamp(std::string_view text, int64_t now, int64_t tolerance) {
  // 18 digits keep the value, and its distance to any realistic now, within int64.
  if (text.empty() || text.size() > 18) return kBadTimestamp;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return kBadTimestamp;
    value = value * 10 + (c - '0');
  }
  if (value >= 100'000'000'000) value /= 1000;  // milliseconds
  if (now - value > tolerance) return kStaleTimestamp;
  if (value - now > tolerance) return kFutureTimestamp;
  return {};
}

// The token of "Authorization: Bearer <token>"; other schemes are not ours.
std::optional<std::string> bearer_token(const HeaderLookup& header) {
  constexpr std::string_view kBearer = "bearer ";
  std::optional<std::string> value = header("authorization");
  if (!value || value->size() < kBearer.size() ||
      OPENSSL_strncasecmp(value->c_str(), kBearer.data(), kBearer.size()) != 0)
    return std::nullopt;
  return value->substr(kBearer.size());
}

Outcome verify_shared(const Secret& secret, const HeaderLookup& header) {
  std::vector<std::string> presented;
  if (std::optional<std::string> value = header("x-vapi-secret")) presented.push_back(std::move(*value));
  if (std::optional<std::string> token = bearer_token(header)) presented.push_back(std::move(*token));
  if (presented.empty()) return refuse(kMissingSignature);
  // Comparing digests keeps the time independent of both lengths.
  const std::string expected = sha256(secret.secret);
  for (const std::string& candidate : presented) {
    if (equal_in_constant_time(sha256(candidate), expected)) return accept(std::nullopt);
  }
  return refuse(kBadSignature);
}

Outcome verify_hmac(const Secret& secret, const HeaderLookup& header, std::string_view body, int64_t now,
                    int64_t tolerance) {
  const std::vector<FormatPiece> pieces = *parse_format(effective_format(secret));
  const bool timestamp_required = secret.include_timestamp || contains(pieces, FormatPiece::kTimestamp);

  const std::optional<std::string> signature = header(secret.signature_header);
  if (!signature) return refuse(kMissingSignature);
  std::optional<std::string> timestamp;
  if (timestamp_required) {
    timestamp = header(secret.timestamp_header);
    if (!timestamp) return refuse(kMissingTimestamp);
  }

  // Built piece by piece so that a body containing "{timestamp}" stays as is.
  std::string message;
  for (const FormatPiece& piece : pieces) {
    switch (piece.kind) {
      case FormatPiece::kLiteral:
        message += piece.literal;
        break;
      case FormatPiece::kTimestamp:
        message += *timestamp;
        break;
      case FormatPiece::kBody:
        message += body;
        break;
    }
  }

  std::string_view encoded = *signature;
  if (encoded.substr(0, secret.signature_prefix.size()) != secret.signature_prefix) return refuse(kBadSignature);
  encoded.remove_prefix(secret.signature_prefix.size());
  const std::optional<std::string> presented =
      secret.signature_encoding == "hex" ? hex_decode(encoded) : base64_decode(encoded);
  if (!presented || !equal_in_constant_time(*presented, hmac(digest_named(secret.algorithm), secret.secret, message))) {
    return refuse(kBadSignature);
  }

  if (timestamp_required) {
    const std::string_view refusal = judge_timestamp(*timestamp, now, tolerance);
    if (!refusal.empty()) return refuse(refusal);
  }
  return accept(std::nullopt);
}

Outcome verify_standard_webhooks(const Secret& secret, const HeaderLookup& header, std::string_view body, int64_t now,
                                 int64_t tolerance) {
  std::optional<std::string> id = header("webhook-id");
  const std::optional<std::string> timestamp = header("webhook-timestamp");
  const std::optional<std::string> signatures = header("webhook-signature");
  if (!id || !signatures) return refuse(kMissingSignature);
  if (!timestamp) return refuse(kMissingTimestamp);

  const std::string key = *base64_decode(strip_whsec(secret.secret));
  std::string message = *id;
  message += '.';
  message += *timestamp;
  message += '.';
  message += body;
  const std::string expected = hmac(EVP_sha256(), key, message);

  bool matched = false;
  std::string_view rest = *signatures;
  while (!rest.empty() && !matched) {
    const size_t space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const size_t comma = entry.find(',');
    // Other versions (v1a is asymmetric) are for other verifiers.
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") continue;
    const std::optional<std::string> presented = base64_decode(entry.substr(comma + 1));
    matched = presented && equal_in_constant_time(*presented, expected);
  }
  if (!matched) return refuse(kBadSignature);

  const std::string_view refusal = judge_timestamp(*timestamp, now, tolerance);
  if (!refusal.empty()) return refuse(refusal);
  return accept(std::move(id));
}

// Whether the request has the signature header of any scheme: the fixed ones
// (a Bearer token), Vapi's default HMAC header, and those the secrets name.
bool carries_a_signature(const std::vector<Secret>& secrets, const HeaderLookup& header) {
  if (bearer_token(header)) return true;
  for (const char* name : {"x-vapi-secret", "webhook-signature", "x-signature"})
    if (header(name)) return true;
  for (const Secret& secret : secrets)
    if (secret.scheme == Scheme::kHmac && !secret.signature_header.empty() && header(secret.signature_header))
      return true;
  return false;
}

}  // namespace

Secret parse_secret(const nlohmann::json& description) {
  if (!description.is_object()) throw std::invalid_argument("webhook secret: expected a JSON object");

  Secret secret;
  const auto scheme = description.find("scheme");
  if (scheme == description.end()) throw std::invalid_argument(field_error("scheme", "is required"));
  const std::string scheme_name = scheme->is_string() ? scheme->get<std::string>() : std::string();
  if (scheme_name == "shared") {
    secret.scheme = Scheme::kSharedSecret;
  } else if (scheme_name == "hmac") {
    secret.scheme = Scheme::kHmac;
  } else if (scheme_name == "standard-webhooks") {
    secret.scheme = Scheme::kStandardWebhooks;
  } else {
    throw std::invalid_argument(field_error("scheme", "must be shared, hmac or standard-webhooks"));
  }

  const auto value = description.find("secret");
  if (value == description.end()) throw std::invalid_argument(field_error("secret", "is required"));
  if (!value->is_string()) throw std::invalid_argument(field_error("secret", "must be a string"));
  secret.secret = value->get<std::string>();

  const std::pair<const char*, std::string Secret::*> hmac_strings[] = {
      {"algorithm", &Secret::algorithm},
      {"signature_header", &Secret::signature_header},
      {"signature_encoding", &Secret::signature_encoding},
      {"signature_prefix", &Secret::signature_prefix},
      {"timestamp_header", &Secret::timestamp_header},
      {"payload_format", &Secret::payload_format},
  };
  for (const auto& [key, field] : description.items()) {
    if (key == "scheme" || key == "secret") continue;
    bool known = key == "include_timestamp" || key == "message_id_header";
    for (const auto& [name, member] : hmac_strings) known = known || key == name;
    // A typo in security configuration must not silently fall back to a default.
    if (!known) throw std::invalid_argument("webhook secret: unknown field '" + key + "'");
    if (secret.scheme != Scheme::kHmac) throw std::invalid_argument(field_error(key, "applies only to scheme hmac"));
    if (key == "message_id_header") {
      if (!field.is_string()) throw std::invalid_argument(field_error(key, "must be a string"));
      continue;
    }
    if (key == "include_timestamp") {
      if (!field.is_boolean()) throw std::invalid_argument(field_error(key, "must be true or false"));
      secret.include_timestamp = field.get<bool>();
      continue;
    }
    if (!field.is_string()) throw std::invalid_argument(field_error(key, "must be a string"));
    for (const auto& [name, member] : hmac_strings) {
      if (key == name) secret.*member = field.get<std::string>();
    }
    // Given explicitly, an empty format is a mistake, not a request for the default.
    if (key == "payload_format" && secret.payload_format.empty()) {
      throw std::invalid_argument(field_error(key, "must contain {body}"));
    }
  }

  if (std::optional<std::string> problem = find_problem(secret)) throw std::invalid_argument(*problem);
  return secret;
}

Verdict verify(const std::vector<Secret>& secrets, const HeaderLookup& header, std::string_view body,
               int64_t now_unix_seconds, int64_t tolerance_seconds) {
  Verdict verdict;
  std::string_view best;
  for (const Secret& secret : secrets) {
    // A secret built in code rather than by parse_secret may be unusable (an
    // empty shared secret would match an empty header): it counts as absent.
    if (find_problem(secret)) continue;
    Outcome outcome = refuse(kNoSecret);
    switch (secret.scheme) {
      case Scheme::kSharedSecret:
        outcome = verify_shared(secret, header);
        break;
      case Scheme::kHmac:
        outcome = verify_hmac(secret, header, body, now_unix_seconds, tolerance_seconds);
        break;
      case Scheme::kStandardWebhooks:
        outcome = verify_standard_webhooks(secret, header, body, now_unix_seconds, tolerance_seconds);
        break;
    }
    if (outcome.ok) {
      verdict.ok = true;
      verdict.delivery_id = std::move(outcome.delivery_id);
      return verdict;
    }
    if (best.empty() || specificity(outcome.refusal) > specificity(best)) best = outcome.refusal;
  }
  // A request carrying some scheme's signature that no secret accepts is
  // refused for its signature, whichever secret's headers it lacked.
  if (best == kMissingSignature && carries_a_signature(secrets, header)) best = kBadSignature;
  verdict.reason = std::string(best.empty() ? kNoSecret : best);
  return verdict;
}

}  // namespace shim
