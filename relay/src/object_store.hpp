// An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Supabase Storage):
// the few calls the archiver makes, each signed with SigV4, and presigned
// URLs for playback. Errors name the operation and the store's answer, never
// a credential or a signature.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "download_fence.hpp"
#include "sigv4.hpp"

namespace httplib {
class ClientImpl;
}

namespace relay {

struct StoreSettings {
  std::string endpoint;  // http(s)://host[:port][/path] (Supabase serves S3 under a path)
  std::string region;
  std::string bucket;
  bool path_style = false;  // https://endpoint/bucket/key instead of https://bucket.endpoint/key
  std::string ca_file;      // empty: the system's certificate authorities
  AwsCredentials credentials;
};

struct StoreResult {
  std::string error;  // empty on success
  std::string value;  // an upload id, an ETag
  bool ok() const { return error.empty(); }
};

class ObjectStore {
 public:
  // The endpoint is one the configuration accepted (parse_url).
  explicit ObjectStore(StoreSettings settings);

  StoreResult put(const std::string& key, const std::string& body, const std::string& content_type) const;
  // value: the upload id.
  StoreResult start_multipart(const std::string& key, const std::string& content_type) const;
  // value: the part's ETag.
  StoreResult upload_part(const std::string& key, const std::string& upload_id, int part_number,
                          const std::string& body) const;
  StoreResult complete_multipart(const std::string& key, const std::string& upload_id,
                                 const std::vector<std::string>& etags) const;
  // Best effort: a store also expires abandoned uploads by its own rules.
  void abort_multipart(const std::string& key, const std::string& upload_id) const;
  // An object already gone counts as deleted.
  StoreResult remove(const std::string& key) const;
  std::string presigned_get(const std::string& key, int expires_seconds) const;

 private:
  struct Target {
    std::string host_header, path;
  };
  Target target(const std::string& key) const;
  std::unique_ptr<httplib::ClientImpl> client() const;
  // Sends one signed request; the response's status and body, or an error.
  StoreResult send(const char* operation, const std::string& method, const std::string& key, const NameValues& query,
                   const std::string& body, const std::string& content_type, int expected_status,
                   std::string* response_body, std::string* etag) const;

  StoreSettings settings_;
  Url endpoint_;
  std::string path_prefix_;  // the endpoint's path, without its final '/'
  std::string host_;  // the host connected to: the endpoint's, or the bucket's subdomain of it
};

}  // namespace relay
