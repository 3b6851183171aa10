#include "sigv4.hpp"

#include <algorithm>
#include <cctype>

#include "digest.hpp"

namespace relay {

namespace {

constexpr const char* kAlgorithm = "AWS4-HMAC-SHA256";

std::string credential_scope(const SigningScope& scope, const std::string& date) {
  return date.substr(0, 8) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

std::string signed_header_names(const NameValues& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) names.push_back(name);
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const std::string& name : names) joined += (joined.empty() ? "" : ";") + name;
  return joined;
}

// Header values are signed trimmed, with inner runs of spaces made one.
std::string trimmed(const std::string& value) {
  std::string out;
  bool space = false;
  for (const char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string uri_encode(std::string_view text, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

std::string amz_date(std::time_t when) {
  std::tm utc{};
  gmtime_r(&when, &utc);
  char text[17];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::string canonical_query(const NameValues& query) {
  NameValues encoded;
  for (const auto& [name, value] : query) encoded.emplace_back(uri_encode(name, true), uri_encode(value, true));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) out += (out.empty() ? "" : "&") + name + "=" + value;
  return out;
}

std::string canonical_request(const SigningInput& input) {
  NameValues headers = input.headers;
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  for (const auto& [name, value] : headers) canonical_headers += name + ":" + trimmed(value) + "\n";
  return input.method + "\n" + input.path + "\n" + canonical_query(input.query) + "\n" + canonical_headers + "\n" +
         signed_header_names(input.headers) + "\n" + input.payload_hash;
}

std::string signature(const AwsCredentials& credentials, const SigningScope& scope, const std::string& date,
                      const std::string& canonical) {
  const std::string to_sign = std::string(kAlgorithm) + "\n" + date + "\n" + credential_scope(scope, date) + "\n" +
                              vox::to_hex(vox::sha256(canonical));
  std::string key = vox::hmac_sha256("AWS4" + credentials.secret_access_key, date.substr(0, 8));
  key = vox::hmac_sha256(key, scope.region);
  key = vox::hmac_sha256(key, scope.service);
  key = vox::hmac_sha256(key, "aws4_request");
  return vox::to_hex(vox::hmac_sha256(key, to_sign));
}

std::string authorization(const AwsCredentials& credentials, const SigningScope& scope, const std::string& date,
                          const SigningInput& input) {
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" + credential_scope(scope, date) +
         ", SignedHeaders=" + signed_header_names(input.headers) +
         ", Signature=" + signature(credentials, scope, date, canonical_request(input));
}

NameValues sign_s3_request(const AwsCredentials& credentials, const SigningScope& scope, std::time_t now,
                           std::string method, const std::string& host, const std::string& path,
                           const NameValues& query, const NameValues& extra, const std::string& payload_hash) {
  const std::string date = amz_date(now);
  SigningInput input{std::move(method), path, query, extra, payload_hash};
  input.headers.emplace_back("host", host);
  input.headers.emplace_back("x-amz-content-sha256", payload_hash);
  input.headers.emplace_back("x-amz-date", date);
  if (!credentials.session_token.empty()) input.headers.emplace_back("x-amz-security-token", credentials.session_token);
  NameValues headers = input.headers;
  headers.emplace_back("authorization", authorization(credentials, scope, date, input));
  return headers;
}

std::string presign_query(const AwsCredentials& credentials, const SigningScope& scope, std::time_t now,
                          const std::string& host, const std::string& path, int expires_seconds) {
  const std::string date = amz_date(now);
  NameValues query = {{"X-Amz-Algorithm", kAlgorithm},
                      {"X-Amz-Credential", credentials.access_key_id + "/" + credential_scope(scope, date)},
                      {"X-Amz-Date", date},
                      {"X-Amz-Expires", std::to_string(expires_seconds)},
                      {"X-Amz-SignedHeaders", "host"}};
  if (!credentials.session_token.empty()) query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  const SigningInput input{"GET", path, query, {{"host", host}}, "UNSIGNED-PAYLOAD"};
  query.emplace_back("X-Amz-Signature", signature(credentials, scope, date, canonical_request(input)));
  return canonical_query(query);
}

}  // namespace relay
