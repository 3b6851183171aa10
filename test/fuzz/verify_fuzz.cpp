// libFuzzer target: signature verification against fixed secrets of every
// scheme and HMAC variant the shim supports. From the input it takes a body,
// a delivery id, a timestamp (fresh, or any text) and a one-byte change, signs
// the request itself (OpenSSL's HMAC and base64 directly, not the shim's
// code), and checks:
//   - a correctly signed request is accepted exactly when its timestamp is
//     fresh, and otherwise refused for the timestamp's reason;
//   - the accepted request's delivery id is the signed one;
//   - changing any one signed byte (body, signature, timestamp, id) refuses it;
//   - headers made up from the input alone are never accepted.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth.hpp"

namespace {

constexpr int64_t kNow = 1'763'740'800;
constexpr int64_t kTolerance = 300;
// Standard Webhooks' example key: base64 of 24 bytes.
constexpr std::string_view kStandardKey = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// A broken property aborts, so libFuzzer saves the input as crash-*.
void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

// Fixed test keys (not anyone's secrets), one per scheme variant; each HMAC
// variant has a signature header of its own, as in shim/test/e2e.
const std::vector<nlohmann::json>& descriptions() {
  static const std::vector<nlohmann::json> all = {
      {{"scheme", "shared"}, {"secret", "fuzz-shared-secret-0123456789"}},
      {{"scheme", "standard-webhooks"}, {"secret", "whsec_" + std::string(kStandardKey)}},
      {{"scheme", "hmac"}, {"secret", "fuzz-hmac-sha256"}, {"algorithm", "sha256"}},
      {{"scheme", "hmac"},
       {"secret", "fuzz-hmac-sha512"},
       {"algorithm", "sha512"},
       {"signature_header", "x-sha512-signature"},
       {"signature_encoding", "base64"},
       {"signature_prefix", "sha512="}},
      {{"scheme", "hmac"},
       {"secret", "fuzz-hmac-sha1"},
       {"algorithm", "sha1"},
       {"signature_header", "x-sha1-signature"}},
      {{"scheme", "hmac"},
       {"secret", "fuzz-hmac-custom"},
       {"signature_header", "x-custom-signature"},
       {"timestamp_header", "x-custom-timestamp"},
       {"payload_format", "v0:{timestamp}:{body}"},
       {"message_id_header", "x-message-id"}},
      {{"scheme", "hmac"},
       {"secret", "fuzz-hmac-body-only"},
       {"signature_header", "x-body-signature"},
       {"include_timestamp", false}},
  };
  return all;
}

const std::vector<shim::Secret>& secrets() {
  static const std::vector<shim::Secret> all = [] {
    std::vector<shim::Secret> parsed;
    for (const nlohmann::json& description : descriptions()) parsed.push_back(shim::parse_secret(description));
    return parsed;
  }();
  return all;
}

std::string mac(const std::string& algorithm, std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  require(HMAC(EVP_get_digestbyname(algorithm.c_str()), key.data(), int(key.size()),
               reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &length) != nullptr,
          "the harness's HMAC works");
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(size_t(written));
  return out;
}

std::string from_base64(std::string_view text) {
  std::string out(text.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  require(written >= 0, "the fixed key is base64");
  out.resize(size_t(written));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// The refusal a fresh signature must still get for its timestamp, empty when
// fresh: Unix seconds as 1 to 18 digits, from 10^11 on read as milliseconds.
std::string expected_timestamp_refusal(const std::string& text) {
  if (text.empty() || text.size() > 18) return "bad_timestamp";
  for (char c : text)
    if (c < '0' || c > '9') return "bad_timestamp";
  int64_t value = std::stoll(text);
  if (value >= 100'000'000'000) value /= 1000;
  if (value < kNow - kTolerance) return "stale_timestamp";
  if (value > kNow + kTolerance) return "future_timestamp";
  return {};
}

// One request: its headers, which of them carry signed bytes, and the body.
struct Signed {
  std::map<std::string, std::string> headers;
  std::string signature_header;             // where the signature is
  size_t signature_from = 0;                // the signed entry's offset within it
  std::vector<std::string> signed_headers;  // timestamp, id: part of the MAC
  bool body_signed = true;
  std::optional<std::string> delivery_id;
};

Signed sign(size_t index, const std::string& body, const std::string& id, const std::string& timestamp,
            const std::string& decoys, bool bearer) {
  const nlohmann::json& d = descriptions()[index];
  const std::string scheme = d["scheme"];
  const std::string key = d["secret"];
  Signed out;
  if (scheme == "shared") {
    out.body_signed = false;
    if (bearer) {
      out.signature_header = "authorization";
      out.headers[out.signature_header] = "Bearer " + key;
      out.signature_from = 7;
    } else {
      out.signature_header = "x-vapi-secret";
      out.headers[out.signature_header] = key;
    }
    return out;
  }
  if (scheme == "standard-webhooks") {
    const std::string entry =
        "v1," + to_base64(mac("sha256", from_base64(kStandardKey), id + "." + timestamp + "." + body));
    out.signature_header = "webhook-signature";
    // Other entries first (other versions, rotated keys): the match may be anywhere.
    out.headers[out.signature_header] = decoys.empty() ? entry : decoys + " " + entry;
    out.signature_from = decoys.empty() ? 0 : decoys.size() + 1;
    out.headers["webhook-id"] = id;
    out.headers["webhook-timestamp"] = timestamp;
    out.signed_headers = {"webhook-id", "webhook-timestamp"};
    out.delivery_id = id;
    return out;
  }
  const std::string algorithm = d.value("algorithm", "sha256");
  const bool include_timestamp = d.value("include_timestamp", true);
  std::string format = d.value("payload_format", include_timestamp ? "{timestamp}.{body}" : "{body}");
  std::string message;
  for (size_t at = 0; at < format.size();) {
    if (format.compare(at, 11, "{timestamp}") == 0) {
      message += timestamp;
      at += 11;
    } else if (format.compare(at, 6, "{body}") == 0) {
      message += body;
      at += 6;
    } else {
      message += format[at++];
    }
  }
  const std::string digest = mac(algorithm, key, message);
  const std::string prefix = d.value("signature_prefix", "");
  out.signature_header = d.value("signature_header", "x-signature");
  out.headers[out.signature_header] =
      prefix + (d.value("signature_encoding", "hex") == "hex" ? to_hex(digest) : to_base64(digest));
  if (include_timestamp) {
    const std::string timestamp_header = d.value("timestamp_header", "x-timestamp");
    out.headers[timestamp_header] = timestamp;
    out.signed_headers = {timestamp_header};
  }
  // Not signed (Vapi's formats have no place for it), so no delivery id.
  if (d.contains("message_id_header")) out.headers[d["message_id_header"]] = id;
  return out;
}

shim::Verdict verify(const std::map<std::string, std::string>& headers, const std::string& body) {
  const shim::HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    std::string key(name);
    for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
    const auto found = headers.find(key);
    if (found == headers.end()) return std::nullopt;
    return found->second;
  };
  return shim::verify(secrets(), lookup, body, kNow, kTolerance);
}

bool is_hex_letter(char c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const size_t index = input.ConsumeIntegralInRange<size_t>(0, descriptions().size() - 1);
  const bool bearer = input.ConsumeBool();
  std::string timestamp;
  if (input.ConsumeBool()) {
    const int64_t seconds = kNow + input.ConsumeIntegralInRange<int64_t>(-kTolerance, kTolerance);
    timestamp = input.ConsumeBool() ? std::to_string(seconds * 1000 + input.ConsumeIntegralInRange(0, 999))
                                    : std::to_string(seconds);
  } else {
    timestamp = input.ConsumeRandomLengthString(24);
  }
  const std::string id = input.ConsumeRandomLengthString(64);
  const std::string decoys = input.ConsumeRandomLengthString(128);
  const size_t field = input.ConsumeIntegral<uint8_t>();
  const size_t position = input.ConsumeIntegral<uint16_t>();
  const uint8_t flip = input.ConsumeIntegralInRange<uint8_t>(1, 255);
  const std::string noise_name = input.ConsumeRandomLengthString(32);
  const std::string noise_value = input.ConsumeRandomLengthString(256);
  const std::string body = input.ConsumeRemainingBytesAsString();

  const Signed request = sign(index, body, id, timestamp, decoys, bearer);
  const shim::Verdict verdict = verify(request.headers, body);
  const bool timestamp_checked = !request.signed_headers.empty();
  const std::string refusal = timestamp_checked ? expected_timestamp_refusal(timestamp) : "";
  require(verdict.ok == refusal.empty(), "a correct signature is accepted exactly when its timestamp is fresh");
  if (verdict.ok) {
    require(verdict.delivery_id == request.delivery_id, "the delivery id is the one sent");
  } else {
    require(verdict.reason == refusal, "a correct signature is refused for its timestamp's reason");
  }

  // Made-up headers: every known name given the same made-up value, plus one
  // of any name. Nothing here was signed with a key.
  std::map<std::string, std::string> noise = {{noise_name, noise_value}};
  for (const char* name : {"x-vapi-secret", "authorization", "webhook-id", "webhook-timestamp", "webhook-signature",
                           "x-signature", "x-timestamp", "x-sha512-signature", "x-sha1-signature", "x-custom-signature",
                           "x-custom-timestamp", "x-body-signature"})
    noise.emplace(name, noise_value);
  require(!verify(noise, body).ok, "made-up headers are refused");

  if (!verdict.ok) return 0;
  // One signed byte changed.
  std::vector<std::string> fields = request.signed_headers;
  fields.push_back(request.signature_header);
  if (request.body_signed) fields.push_back("");  // the body
  const std::string& chosen = fields[field % fields.size()];
  std::map<std::string, std::string> headers = request.headers;
  std::string changed_body = body;
  std::string& target = chosen.empty() ? changed_body : headers[chosen];
  const size_t from = chosen == request.signature_header ? request.signature_from : 0;
  if (target.size() <= from) return 0;
  char& byte = target[from + position % (target.size() - from)];
  const char original = byte;
  byte = char(byte ^ flip);
  // Hex digits are case-insensitive: the same signature.
  const bool same_hex =
      chosen == request.signature_header && is_hex_letter(original) &&
      std::tolower(static_cast<unsigned char>(original)) == std::tolower(static_cast<unsigned char>(byte)) &&
      descriptions()[index].value("signature_encoding", "hex") == "hex" && descriptions()[index]["scheme"] == "hmac";
  require(verify(headers, changed_body).ok == same_hex, "one changed signed byte is refused");
  return 0;
}
