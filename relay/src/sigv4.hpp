// AWS Signature Version 4, as S3-compatible stores (AWS S3, Cloudflare R2,
// MinIO, Supabase Storage) require it. Signed by hand over OpenSSL because
// the algorithm is a few hashes, while Debian's libs3 holds whole objects in
// its own buffers and cannot presign a URL; the unit tests check AWS's
// published vectors and the archive suite an independent verifier.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay {

using NameValues = std::vector<std::pair<std::string, std::string>>;

struct AwsCredentials {
  std::string access_key_id, secret_access_key;
  std::string session_token;  // empty: long-lived keys
};

// What is signed of one request.
struct SigningInput {
  std::string method;
  std::string path;      // as sent, already URI-encoded
  NameValues query;      // raw names and values, in any order
  NameValues headers;    // names in lowercase, every one signed (host among them)
  std::string payload_hash;  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

struct SigningScope {
  std::string region;
  std::string service = "s3";
};

// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, every
// other byte %XX in uppercase; '/' kept unless encode_slash.
std::string uri_encode(std::string_view text, bool encode_slash);
// 20150830T123600Z.
std::string amz_date(std::time_t when);
std::string canonical_query(const NameValues& query);
std::string canonical_request(const SigningInput& input);
// The hex signature of the canonical request at `date` (an amz_date).
std::string signature(const AwsCredentials& credentials, const SigningScope& scope, const std::string& date,
                      const std::string& canonical);
// The Authorization header's value.
std::string authorization(const AwsCredentials& credentials, const SigningScope& scope, const std::string& date,
                          const SigningInput& input);

// The headers an S3 request sends, Authorization last: host, x-amz-date,
// x-amz-content-sha256, x-amz-security-token (with a session token) and
// `extra` (lowercase names), all signed.
NameValues sign_s3_request(const AwsCredentials& credentials, const SigningScope& scope, std::time_t now,
                           std::string method, const std::string& host, const std::string& path,
                           const NameValues& query, const NameValues& extra, const std::string& payload_hash);

// The query string of a presigned GET of `path`, valid `expires_seconds`.
std::string presign_query(const AwsCredentials& credentials, const SigningScope& scope, std::time_t now,
                          const std::string& host, const std::string& path, int expires_seconds);

}  // namespace relay
