// Expected signatures never come from auth.cpp: HMACs are computed by the
// openssl command line over the exact message bytes (see openssl_hmac), and
// Standard Webhooks is checked against the specification's published vector.
#include "auth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using shim::parse_secret;
using shim::Secret;
using shim::Verdict;
using Headers = std::map<std::string, std::string>;  // names in lower case

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kTolerance = 300;
constexpr char kHmacKey[] = "hmac-test-key-1";
constexpr char kBody[] = R"({"message":{"type":"status-update","status":"ended"}})";

// The test vector of the Standard Webhooks reference library
// (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts,
// "sign function works"). Reproduced with:
//   printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' > m
//   key=$(printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 64)
//   openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary m | base64
constexpr char kSwSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSwId[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSwTimestamp = 1614265330;
constexpr char kSwBody[] = R"({"test": 2432232314})";
constexpr char kSwSignature[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

shim::HeaderLookup lookup(Headers headers) {
  return [headers = std::move(headers)](std::string_view name) -> std::optional<std::string> {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto found = headers.find(lower);
    if (found == headers.end()) return std::nullopt;
    return found->second;
  };
}

Verdict check(const std::vector<Secret>& secrets, const Headers& headers, std::string_view body, int64_t now = kNow) {
  return shim::verify(secrets, lookup(headers), body, now, kTolerance);
}

::testing::AssertionResult Accepted(const Verdict& verdict) {
  if (verdict.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused: " << verdict.reason;
}

::testing::AssertionResult Refused(const Verdict& verdict, const std::string& reason) {
  if (verdict.ok) return ::testing::AssertionFailure() << "accepted, expected " << reason;
  if (verdict.reason != reason) return ::testing::AssertionFailure() << "refused with " << verdict.reason;
  if (verdict.delivery_id) return ::testing::AssertionFailure() << "refused but with a delivery id";
  return ::testing::AssertionSuccess();
}

std::string to_hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

std::string run(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buffer[256];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  if (pclose(pipe) != 0) throw std::runtime_error("command failed: " + command);
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// HMAC of message by `openssl dgst`, hex or base64 (coreutils). The message
// goes through a file so that its bytes reach openssl untouched; the key as
// hex, so that no shell quoting is involved.
std::string openssl_hmac(const std::string& algorithm, std::string_view key, std::string_view message,
                         bool base64 = false) {
  char path[] = "/tmp/auth_test_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const bool written = write(fd, message.data(), message.size()) == static_cast<ssize_t>(message.size());
  close(fd);
  const std::string command = "openssl dgst -" + algorithm + " -mac HMAC -macopt hexkey:" + to_hex(key) +
                              (base64 ? std::string(" -binary ") + path + " | base64 -w0" : std::string(" -r ") + path);
  std::string out = written ? run(command) : std::string();
  unlink(path);
  if (!written) throw std::runtime_error("could not write the message");
  return base64 ? out : out.substr(0, out.find(' '));
}

Secret hmac_secret(nlohmann::json fields = nlohmann::json::object(), const std::string& key = kHmacKey) {
  fields["scheme"] = "hmac";
  fields["secret"] = key;
  return parse_secret(fields);
}

// A request signed the way Vapi's default HMAC plan signs: "{timestamp}.{body}", hex.
Headers hmac_request(const std::string& timestamp, std::string_view body = kBody, const std::string& key = kHmacKey) {
  return {{"x-timestamp", timestamp},
          {"x-signature", openssl_hmac("sha256", key, timestamp + "." + std::string(body))}};
}

Secret sw_secret(const std::string& secret = kSwSecret) {
  return parse_secret({{"scheme", "standard-webhooks"}, {"secret", secret}});
}

Headers sw_request(const std::string& signature = kSwSignature) {
  return {{"webhook-id", kSwId}, {"webhook-timestamp", std::to_string(kSwTimestamp)}, {"webhook-signature", signature}};
}

// --- shared secret -------------------------------------------------------

TEST(Auth, SharedSecretAcceptsXVapiSecret) {
  const Secret secret = parse_secret({{"scheme", "shared"}, {"secret", "s3cr3t"}});
  const Verdict verdict = check({secret}, {{"x-vapi-secret", "s3cr3t"}}, kBody);
  EXPECT_TRUE(Accepted(verdict));
  EXPECT_FALSE(verdict.delivery_id);
}

TEST(Auth, SharedSecretAcceptsBearerWithAnyCase) {
  const Secret secret = parse_secret({{"scheme", "shared"}, {"secret", "s3cr3t"}});
  for (const char* authorization : {"Bearer s3cr3t", "bearer s3cr3t", "BEARER s3cr3t"}) {
    EXPECT_TRUE(Accepted(check({secret}, {{"authorization", authorization}}, kBody))) << authorization;
  }
}

TEST(Auth, SharedSecretRefusesOtherValues) {
  const Secret secret = parse_secret({{"scheme", "shared"}, {"secret", "s3cr3t"}});
  for (const char* presented : {"s3cr3", "s3cr3tt", "S3CR3T", "", "x"}) {
    EXPECT_TRUE(Refused(check({secret}, {{"x-vapi-secret", presented}}, kBody), "bad_signature")) << presented;
  }
  // Exactly one space after "Bearer": the token is what follows it.
  EXPECT_TRUE(Refused(check({secret}, {{"authorization", "Bearer  s3cr3t"}}, kBody), "bad_signature"));
}

TEST(Auth, SharedSecretRefusesMissingHeaderAndOtherAuthorizationSchemes) {
  const Secret secret = parse_secret({{"scheme", "shared"}, {"secret", "s3cr3t"}});
  EXPECT_TRUE(Refused(check({secret}, {}, kBody), "missing_signature"));
  EXPECT_TRUE(Refused(check({secret}, {{"authorization", "Basic s3cr3t"}}, kBody), "missing_signature"));
  EXPECT_TRUE(Refused(check({secret}, {{"authorization", "Bearers3cr3t"}}, kBody), "missing_signature"));
}

TEST(Auth, SecretWithEmptyValueNeverAccepts) {
  // Built in code, bypassing parse_secret: an empty header must not match it.
  const Secret empty;
  EXPECT_TRUE(Refused(check({empty}, {{"x-vapi-secret", ""}}, kBody), "no_secret"));
  EXPECT_TRUE(Refused(check({empty}, {{"authorization", "Bearer "}}, kBody), "no_secret"));
}

TEST(Auth, NoSecretsRefusesEverything) {
  EXPECT_TRUE(Refused(check({}, {{"x-vapi-secret", "anything"}}, kBody), "no_secret"));
}

// --- HMAC ------------------------------------------------------------------

TEST(Auth, HmacAcceptsDefaultPlan) {
  const Verdict verdict = check({hmac_secret()}, hmac_request(std::to_string(kNow)), kBody);
  EXPECT_TRUE(Accepted(verdict));
  EXPECT_FALSE(verdict.delivery_id);
}

TEST(Auth, HmacRefusesBodyTamperedByOneByte) {
  const Headers headers = hmac_request(std::to_string(kNow));
  std::string tampered = kBody;
  tampered[tampered.find("ended")] = 'E';
  EXPECT_TRUE(Refused(check({hmac_secret()}, headers, tampered), "bad_signature"));
  EXPECT_TRUE(Refused(check({hmac_secret()}, headers, std::string(kBody) + " "), "bad_signature"));
}

TEST(Auth, HmacRefusesWrongSecret) {
  const Headers headers = hmac_request(std::to_string(kNow), kBody, "another-key");
  EXPECT_TRUE(Refused(check({hmac_secret()}, headers, kBody), "bad_signature"));
}

TEST(Auth, HmacRefusesMissingHeaders) {
  Headers headers = hmac_request(std::to_string(kNow));
  Headers no_signature = headers;
  no_signature.erase("x-signature");
  EXPECT_TRUE(Refused(check({hmac_secret()}, no_signature, kBody), "missing_signature"));
  Headers no_timestamp = headers;
  no_timestamp.erase("x-timestamp");
  EXPECT_TRUE(Refused(check({hmac_secret()}, no_timestamp, kBody), "missing_timestamp"));
  EXPECT_TRUE(Refused(check({hmac_secret()}, {}, kBody), "missing_signature"));
}

TEST(Auth, HmacTimestampToleranceBoundaries) {
  const Secret secret = hmac_secret();
  auto at = [&](int64_t timestamp) { return check({secret}, hmac_request(std::to_string(timestamp)), kBody); };
  EXPECT_TRUE(Accepted(at(kNow - kTolerance)));
  EXPECT_TRUE(Accepted(at(kNow + kTolerance)));
  EXPECT_TRUE(Refused(at(kNow - kTolerance - 1), "stale_timestamp"));
  EXPECT_TRUE(Refused(at(kNow + kTolerance + 1), "future_timestamp"));
}

TEST(Auth, HmacReadsMillisecondTimestamps) {
  const Secret secret = hmac_secret();
  auto at = [&](int64_t timestamp) { return check({secret}, hmac_request(std::to_string(timestamp)), kBody); };
  EXPECT_TRUE(Accepted(at(kNow * 1000 + 999)));
  EXPECT_TRUE(Accepted(at((kNow - kTolerance) * 1000)));
  EXPECT_TRUE(Refused(at((kNow - kTolerance - 1) * 1000), "stale_timestamp"));
  EXPECT_TRUE(Refused(at((kNow + kTolerance + 1) * 1000), "future_timestamp"));
  // 10^11 is where milliseconds start: just below is a date in year 5138.
  EXPECT_TRUE(Refused(at(99'999'999'999), "future_timestamp"));
  EXPECT_TRUE(Refused(at(100'000'000'000), "stale_timestamp"));
}

TEST(Auth, HmacRefusesMalformedTimestampEvenWhenSigned) {
  for (const char* timestamp :
       {"", "1700000000.5", "-1700000000", " 1700000000", "1700000000 ", "0x6553f100", "1700000000000000000"}) {
    EXPECT_TRUE(Refused(check({hmac_secret()}, hmac_request(timestamp), kBody), "bad_timestamp")) << timestamp;
  }
}

TEST(Auth, HmacSignatureIsCheckedBeforeTimestampFreshness) {
  // Fresh timestamp, wrong signature: the signature is what is wrong.
  Headers forged = hmac_request(std::to_string(kNow));
  forged["x-signature"] = std::string(64, '0');
  EXPECT_TRUE(Refused(check({hmac_secret()}, forged, kBody), "bad_signature"));
  // Authentic but old: a replay.
  EXPECT_TRUE(Refused(check({hmac_secret()}, hmac_request(std::to_string(kNow - 3600)), kBody), "stale_timestamp"));
}

TEST(Auth, HmacRequiresTheConfiguredPrefix) {
  const Secret secret = hmac_secret({{"signature_prefix", "sha256="}});
  Headers headers = hmac_request(std::to_string(kNow));
  const std::string hex = headers["x-signature"];
  EXPECT_TRUE(Refused(check({secret}, headers, kBody), "bad_signature"));
  headers["x-signature"] = "SHA256=" + hex;
  EXPECT_TRUE(Refused(check({secret}, headers, kBody), "bad_signature"));
  headers["x-signature"] = "sha256=" + hex;
  EXPECT_TRUE(Accepted(check({secret}, headers, kBody)));
}

TEST(Auth, HmacAcceptsUpperCaseHex) {
  Headers headers = hmac_request(std::to_string(kNow));
  for (char& c : headers["x-signature"]) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(Accepted(check({hmac_secret()}, headers, kBody)));
}

TEST(Auth, HmacRefusesTruncatedOrMalformedHex) {
  const Headers good = hmac_request(std::to_string(kNow));
  const std::string hex = good.at("x-signature");
  for (const std::string& signature :
       {hex.substr(0, 63), hex.substr(0, 62), hex + "00", "g" + hex.substr(1), std::string(), " " + hex}) {
    Headers headers = good;
    headers["x-signature"] = signature;
    EXPECT_TRUE(Refused(check({hmac_secret()}, headers, kBody), "bad_signature")) << signature;
  }
}

TEST(Auth, HmacBase64Encoding) {
  const Secret secret = hmac_secret({{"signature_encoding", "base64"}});
  const std::string timestamp = std::to_string(kNow);
  const std::string message = timestamp + "." + kBody;
  const std::string base64 = openssl_hmac("sha256", kHmacKey, message, true);
  ASSERT_EQ(base64.size(), 44u);
  ASSERT_EQ(base64.back(), '=');
  auto with = [&](const std::string& signature) {
    return check({secret}, {{"x-timestamp", timestamp}, {"x-signature", signature}}, kBody);
  };
  EXPECT_TRUE(Accepted(with(base64)));
  EXPECT_TRUE(Refused(with(openssl_hmac("sha256", kHmacKey, message)), "bad_signature"));  // hex
  EXPECT_TRUE(Refused(with(base64.substr(0, 43)), "bad_signature"));                       // padding dropped
  EXPECT_TRUE(Refused(with(base64 + "\n"), "bad_signature"));
  EXPECT_TRUE(Refused(with("*" + base64.substr(1)), "bad_signature"));
  EXPECT_TRUE(Refused(with(base64.substr(0, 40)), "bad_signature"));
  // The last character before the padding carries two bits no byte uses:
  // another spelling of the same digest, which only the canonical form passes.
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string other_spelling = base64;
  other_spelling[42] = alphabet[alphabet.find(base64[42]) ^ 1];
  EXPECT_TRUE(Refused(with(other_spelling), "bad_signature"));
}

TEST(Auth, HmacSha1AndSha512) {
  const std::string timestamp = std::to_string(kNow);
  const std::string message = timestamp + "." + kBody;
  for (const char* algorithm : {"sha1", "sha512"}) {
    const Secret secret = hmac_secret({{"algorithm", algorithm}});
    const std::string hex = openssl_hmac(algorithm, kHmacKey, message);
    EXPECT_TRUE(Accepted(check({secret}, {{"x-timestamp", timestamp}, {"x-signature", hex}}, kBody))) << algorithm;
    // A SHA-256 MAC is not a valid signature for another algorithm.
    EXPECT_TRUE(Refused(check({secret}, hmac_request(timestamp), kBody), "bad_signature")) << algorithm;
  }
  const Secret sha512_base64 = hmac_secret({{"algorithm", "sha512"}, {"signature_encoding", "base64"}});
  const std::string base64 = openssl_hmac("sha512", kHmacKey, message, true);
  EXPECT_TRUE(Accepted(check({sha512_base64}, {{"x-timestamp", timestamp}, {"x-signature", base64}}, kBody)));
}

TEST(Auth, HmacRotationAcceptsEitherSecret) {
  const std::vector<Secret> secrets = {hmac_secret({}, "old-key"), hmac_secret({}, "new-key")};
  const std::string timestamp = std::to_string(kNow);
  EXPECT_TRUE(Accepted(check(secrets, hmac_request(timestamp, kBody, "old-key"), kBody)));
  EXPECT_TRUE(Accepted(check(secrets, hmac_request(timestamp, kBody, "new-key"), kBody)));
  EXPECT_TRUE(Refused(check(secrets, hmac_request(timestamp, kBody, "other-key"), kBody), "bad_signature"));
}

TEST(Auth, HmacBodyContainingPlaceholderTextIsSignedVerbatim) {
  const std::string body = R"({"transcript":"say {timestamp} and {body} aloud"})";
  const std::string timestamp = std::to_string(kNow);
  EXPECT_TRUE(Accepted(check({hmac_secret()}, hmac_request(timestamp, body), body)));
}

TEST(Auth, HmacCustomPayloadFormat) {
  const Secret secret = hmac_secret({{"payload_format", "v0:{timestamp}:{body}"}, {"signature_prefix", "v0="}});
  const std::string timestamp = std::to_string(kNow);
  const std::string hex = openssl_hmac("sha256", kHmacKey, "v0:" + timestamp + ":" + kBody);
  EXPECT_TRUE(Accepted(check({secret}, {{"x-timestamp", timestamp}, {"x-signature", "v0=" + hex}}, kBody)));
}

TEST(Auth, HmacCustomHeaderNames) {
  const Secret secret = hmac_secret({{"signature_header", "X-Vapi-Signature"}, {"timestamp_header", "X-Vapi-Time"}});
  const Headers standard = hmac_request(std::to_string(kNow));
  const Headers custom = {{"x-vapi-time", standard.at("x-timestamp")},
                          {"x-vapi-signature", standard.at("x-signature")}};
  EXPECT_TRUE(Accepted(check({secret}, custom, kBody)));
  // Vapi's default header is a signature, if not the one this secret reads.
  EXPECT_TRUE(Refused(check({secret}, standard, kBody), "bad_signature"));
  EXPECT_TRUE(Refused(check({secret}, {{"x-timestamp", standard.at("x-timestamp")}}, kBody), "missing_signature"));
}

TEST(Auth, HmacWithoutTimestampSignsTheBodyAlone) {
  const Secret secret = hmac_secret({{"include_timestamp", false}});
  const std::string hex = openssl_hmac("sha256", kHmacKey, kBody);
  EXPECT_TRUE(Accepted(check({secret}, {{"x-signature", hex}}, kBody)));
  // Nothing signs a timestamp header here, so none is judged.
  EXPECT_TRUE(Accepted(check({secret}, {{"x-signature", hex}, {"x-timestamp", "1"}}, kBody)));
}

TEST(Auth, HmacFormatWithTimestampRequiresItEvenWithoutIncludeTimestamp) {
  const Secret secret = hmac_secret({{"include_timestamp", false}, {"payload_format", "{timestamp}.{body}"}});
  const Headers stale = hmac_request(std::to_string(kNow - kTolerance - 1));
  EXPECT_TRUE(Refused(check({secret}, stale, kBody), "stale_timestamp"));
  Headers missing = hmac_request(std::to_string(kNow));
  missing.erase("x-timestamp");
  EXPECT_TRUE(Refused(check({secret}, missing, kBody), "missing_timestamp"));
}

// The header is not signed: taken as a delivery id, a replay with a new id
// would be applied again, and a guessed id would make a later delivery a
// duplicate.
TEST(Auth, HmacMessageIdHeaderIsNoDeliveryId) {
  const Secret secret = hmac_secret({{"message_id_header", "x-message-id"}});
  Headers headers = hmac_request(std::to_string(kNow));
  headers["x-message-id"] = "evt_123";
  const Verdict verdict = check({secret}, headers, kBody);
  EXPECT_TRUE(Accepted(verdict));
  EXPECT_FALSE(verdict.delivery_id);
}

TEST(Auth, MissingSignatureOnlyWithoutAnySchemesSignature) {
  // The org's hmac secret was deactivated; its sender still signs.
  const Headers hmac = hmac_request(std::to_string(kNow));
  EXPECT_TRUE(Refused(check({sw_secret()}, hmac, kBody), "bad_signature"));
  EXPECT_TRUE(Refused(check({sw_secret()}, {{"x-timestamp", hmac.at("x-timestamp")}}, kBody), "missing_signature"));
  EXPECT_TRUE(Refused(check({hmac_secret()}, {{"x-vapi-secret", "s"}}, kBody), "bad_signature"));
}

// --- Standard Webhooks --------------------------------------------------------

TEST(Auth, StandardWebhooksAcceptsPublishedVector) {
  for (const std::string& secret : {std::string(kSwSecret), std::string(kSwSecret).substr(6)}) {
    const Verdict verdict = check({sw_secret(secret)}, sw_request(), kSwBody, kSwTimestamp);
    EXPECT_TRUE(Accepted(verdict)) << secret;
    EXPECT_EQ(verdict.delivery_id, std::optional<std::string>(kSwId));
  }
}

TEST(Auth, StandardWebhooksAcceptsAnyV1Signature) {
  const std::string good = kSwSignature;
  const std::string other = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  for (const std::string& header : {other + " " + good, "v2," + good.substr(3) + " " + good + " " + other,
                                    "v1,not*base64 " + good, other + "  " + good}) {
    EXPECT_TRUE(Accepted(check({sw_secret()}, sw_request(header), kSwBody, kSwTimestamp))) << header;
  }
  // The right bytes under another version do not count.
  EXPECT_TRUE(
      Refused(check({sw_secret()}, sw_request("v2," + good.substr(3)), kSwBody, kSwTimestamp), "bad_signature"));
  EXPECT_TRUE(Refused(check({sw_secret()}, sw_request(other), kSwBody, kSwTimestamp), "bad_signature"));
  EXPECT_TRUE(Refused(check({sw_secret()}, sw_request(good.substr(3)), kSwBody, kSwTimestamp), "bad_signature"));
  EXPECT_TRUE(Refused(check({sw_secret()}, sw_request(""), kSwBody, kSwTimestamp), "bad_signature"));
}

TEST(Auth, StandardWebhooksRefusesTamperingAndWrongSecret) {
  EXPECT_TRUE(Refused(check({sw_secret()}, sw_request(), R"({"test": 2432232315})", kSwTimestamp), "bad_signature"));
  Headers other_id = sw_request();
  other_id["webhook-id"] = "msg_p5jXN8AQM9LWM0D4loKWxJeK";
  EXPECT_TRUE(Refused(check({sw_secret()}, other_id, kSwBody, kSwTimestamp), "bad_signature"));
  Headers other_time = sw_request();
  other_time["webhook-timestamp"] = std::to_string(kSwTimestamp + 1);
  EXPECT_TRUE(Refused(check({sw_secret()}, other_time, kSwBody, kSwTimestamp), "bad_signature"));
  const Secret wrong = sw_secret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_TRUE(Refused(check({wrong}, sw_request(), kSwBody, kSwTimestamp), "bad_signature"));
  // Rotation: the right secret among wrong ones is enough.
  EXPECT_TRUE(Accepted(check({wrong, sw_secret()}, sw_request(), kSwBody, kSwTimestamp)));
}

TEST(Auth, StandardWebhooksMissingHeaders) {
  // A signature without its id cannot be checked: refused as a signature.
  for (const auto& [name, reason] : {std::pair{"webhook-id", "bad_signature"}, {"webhook-signature", "missing_signature"}}) {
    Headers headers = sw_request();
    headers.erase(name);
    EXPECT_TRUE(Refused(check({sw_secret()}, headers, kSwBody, kSwTimestamp), reason)) << name;
  }
  Headers headers = sw_request();
  headers.erase("webhook-timestamp");
  EXPECT_TRUE(Refused(check({sw_secret()}, headers, kSwBody, kSwTimestamp), "missing_timestamp"));
  EXPECT_TRUE(Refused(check({sw_secret()}, {}, kSwBody, kSwTimestamp), "missing_signature"));
}

TEST(Auth, StandardWebhooksTimestampTolerance) {
  auto at = [](int64_t now) { return check({sw_secret()}, sw_request(), kSwBody, now); };
  EXPECT_TRUE(Accepted(at(kSwTimestamp + kTolerance)));
  EXPECT_TRUE(Accepted(at(kSwTimestamp - kTolerance)));
  EXPECT_TRUE(Refused(at(kSwTimestamp + kTolerance + 1), "stale_timestamp"));
  EXPECT_TRUE(Refused(at(kSwTimestamp - kTolerance - 1), "future_timestamp"));
}

// --- several secrets ------------------------------------------------------

TEST(Auth, SeveralSchemesReportTheMostSpecificRefusal) {
  std::vector<Secret> secrets = {parse_secret({{"scheme", "shared"}, {"secret", "s3cr3t"}}), hmac_secret(),
                                 sw_secret()};
  for (int order = 0; order < 2; ++order) {
    const Headers stale = hmac_request(std::to_string(kNow - kTolerance - 1));
    EXPECT_TRUE(Refused(check(secrets, stale, kBody), "stale_timestamp"));
    Headers forged = hmac_request(std::to_string(kNow));
    forged["x-signature"] = std::string(64, 'a');
    EXPECT_TRUE(Refused(check(secrets, forged, kBody), "bad_signature"));
    Headers untimed = hmac_request(std::to_string(kNow));
    untimed.erase("x-timestamp");
    EXPECT_TRUE(Refused(check(secrets, untimed, kBody), "missing_timestamp"));
    EXPECT_TRUE(Refused(check(secrets, {}, kBody), "missing_signature"));
    EXPECT_TRUE(Accepted(check(secrets, {{"authorization", "Bearer s3cr3t"}}, kBody)));
    std::reverse(secrets.begin(), secrets.end());
  }
}

TEST(Auth, RotationReportsAReplayRatherThanTheOtherSecretsMismatch) {
  std::vector<Secret> secrets = {hmac_secret({}, "old-key"), hmac_secret({}, "new-key")};
  const Headers replay = hmac_request(std::to_string(kNow + kTolerance + 1), kBody, "new-key");
  EXPECT_TRUE(Refused(check(secrets, replay, kBody), "future_timestamp"));
  std::reverse(secrets.begin(), secrets.end());
  EXPECT_TRUE(Refused(check(secrets, replay, kBody), "future_timestamp"));
}

// --- parse_secret -------------------------------------------------------------

TEST(Auth, ParseSecretReadsEveryHmacField) {
  const Secret secret = parse_secret({{"scheme", "hmac"},
                                      {"secret", "k"},
                                      {"algorithm", "sha512"},
                                      {"signature_header", "x-sig"},
                                      {"signature_encoding", "base64"},
                                      {"signature_prefix", "v1="},
                                      {"include_timestamp", false},
                                      {"timestamp_header", "x-ts"},
                                      {"payload_format", "{timestamp}:{body}"},
                                      {"message_id_header", "x-id"}});  // accepted, ignored
  EXPECT_EQ(secret.scheme, shim::Scheme::kHmac);
  EXPECT_EQ(secret.secret, "k");
  EXPECT_EQ(secret.algorithm, "sha512");
  EXPECT_EQ(secret.signature_header, "x-sig");
  EXPECT_EQ(secret.signature_encoding, "base64");
  EXPECT_EQ(secret.signature_prefix, "v1=");
  EXPECT_FALSE(secret.include_timestamp);
  EXPECT_EQ(secret.timestamp_header, "x-ts");
  EXPECT_EQ(secret.payload_format, "{timestamp}:{body}");
}

TEST(Auth, ParseSecretDefaults) {
  const Secret hmac = hmac_secret();
  EXPECT_EQ(hmac.algorithm, "sha256");
  EXPECT_EQ(hmac.signature_header, "x-signature");
  EXPECT_EQ(hmac.signature_encoding, "hex");
  EXPECT_EQ(hmac.signature_prefix, "");
  EXPECT_TRUE(hmac.include_timestamp);
  EXPECT_EQ(hmac.timestamp_header, "x-timestamp");
  EXPECT_EQ(parse_secret({{"scheme", "shared"}, {"secret", "s"}}).scheme, shim::Scheme::kSharedSecret);
  const Secret sw = sw_secret();
  EXPECT_EQ(sw.scheme, shim::Scheme::kStandardWebhooks);
  EXPECT_EQ(sw.secret, kSwSecret);
}

TEST(Auth, ParseSecretRejectsBadDescriptionsNamingTheField) {
  // The canary stands for the secret value, also where it was misplaced.
  const std::string canary = "Canary-5ecret-Value";
  struct Case {
    nlohmann::json description;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"secret", canary}}, "scheme"},
      {{{"scheme", "jwt"}, {"secret", canary}}, "scheme"},
      {{{"scheme", 1}, {"secret", canary}}, "scheme"},
      {{{"scheme", "shared"}}, "secret"},
      {{{"scheme", "shared"}, {"secret", ""}}, "secret"},
      {{{"scheme", "shared"}, {"secret", 42}}, "secret"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"algorithm", "md5"}}, "algorithm"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"algorithm", "SHA256"}}, "algorithm"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"algorithm", canary}}, "algorithm"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"signature_encoding", "base32"}}, "signature_encoding"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", "{timestamp}"}}, "payload_format"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", ""}}, "payload_format"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", "{method}{url}{body}"}}, "payload_format"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", "{body}.{svix-id}"}}, "payload_format"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", "{timestamp}.{body"}}, "payload_format"},
      // A checked timestamp must be signed, else it could be replaced at will.
      {{{"scheme", "hmac"}, {"secret", canary}, {"payload_format", "{body}"}}, "payload_format"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"include_timestamp", "false"}}, "include_timestamp"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"signature_header", ""}}, "signature_header"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"timestamp_header", 7}}, "timestamp_header"},
      {{{"scheme", "hmac"}, {"secret", canary}, {"algoritm", "sha256"}}, "algoritm"},
      {{{"scheme", "shared"}, {"secret", canary}, {"signature_prefix", "sha256="}}, "signature_prefix"},
      {{{"scheme", "standard-webhooks"}, {"secret", "whsec_" + canary}}, "secret"},
      {{{"scheme", "standard-webhooks"}, {"secret", "whsec_"}}, "secret"},
      {{{"scheme", "standard-webhooks"}, {"secret", canary + "="}}, "secret"},
  };
  for (const Case& c : cases) {
    try {
      parse_secret(c.description);
      ADD_FAILURE() << "accepted " << c.field;
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("'" + c.field + "'"), std::string::npos) << message;
      EXPECT_EQ(message.find(canary), std::string::npos) << message;
    }
  }
  EXPECT_THROW(parse_secret(nlohmann::json::array({"hmac"})), std::invalid_argument);
  EXPECT_THROW(parse_secret(nlohmann::json("whsec_x")), std::invalid_argument);
}

}  // namespace
