#include "object_store.hpp"

#include <httplib.h>

#include "digest.hpp"

namespace relay {

namespace {

constexpr int kConnectTimeoutSeconds = 10;
constexpr int kTransferTimeoutSeconds = 60;

// The text of <tag>…</tag> in a store's XML answer, or "".
std::string xml_value(const std::string& xml, const std::string& tag) {
  const std::string open = "<" + tag + ">";
  const size_t start = xml.find(open);
  if (start == std::string::npos) return "";
  const size_t end = xml.find("</" + tag + ">", start);
  if (end == std::string::npos) return "";
  return xml.substr(start + open.size(), end - start - open.size());
}

std::string query_string(const NameValues& query) {
  std::string out;
  for (const auto& [name, value] : query) out += (out.empty() ? "?" : "&") + uri_encode(name, true) + "=" + uri_encode(value, true);
  return out;
}

}  // namespace

ObjectStore::ObjectStore(StoreSettings settings)
    : settings_(std::move(settings)), endpoint_(parse_url(settings_.endpoint).value()) {
  path_prefix_ = endpoint_.target.substr(0, endpoint_.target.find_last_not_of('/') + 1);
  host_ = settings_.path_style ? endpoint_.host : settings_.bucket + "." + endpoint_.host;
}

ObjectStore::Target ObjectStore::target(const std::string& key) const {
  const bool default_port = endpoint_.port == (endpoint_.scheme == "https" ? 443 : 80);
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  if (!default_port) host += ":" + std::to_string(endpoint_.port);
  std::string path = path_prefix_ + (settings_.path_style ? "/" + uri_encode(settings_.bucket, true) : "");
  path += "/" + uri_encode(key, false);
  return {host, path};
}

std::unique_ptr<httplib::ClientImpl> ObjectStore::client() const {
  std::unique_ptr<httplib::ClientImpl> client;
  if (endpoint_.scheme == "https") {
    auto tls = std::make_unique<httplib::SSLClient>(host_, endpoint_.port);
    if (!settings_.ca_file.empty()) tls->set_ca_cert_path(settings_.ca_file);
    tls->enable_server_certificate_verification(true);
    client = std::move(tls);
  } else {
    client = std::make_unique<httplib::ClientImpl>(host_, endpoint_.port);
  }
  // The path is sent exactly as it was signed.
  client->set_path_encode(false);
  client->set_connection_timeout(kConnectTimeoutSeconds, 0);
  client->set_read_timeout(kTransferTimeoutSeconds, 0);
  client->set_write_timeout(kTransferTimeoutSeconds, 0);
  return client;
}

StoreResult ObjectStore::send(const char* operation, const std::string& method, const std::string& key,
                              const NameValues& query, const std::string& body, const std::string& content_type,
                              int expected_status, std::string* response_body, std::string* etag) const {
  const Target where = target(key);
  const NameValues extra = content_type.empty() ? NameValues{} : NameValues{{"content-type", content_type}};
  httplib::Headers headers;
  for (const auto& [name, value] : sign_s3_request(settings_.credentials, SigningScope{settings_.region}, std::time(nullptr),
                                                   method, where.host_header, where.path, query, extra,
                                                   vox::to_hex(vox::sha256(body))))
    headers.emplace(name == "host" ? "Host" : name, value);
  const std::string request_target = where.path + query_string(query);
  const std::unique_ptr<httplib::ClientImpl> http = client();
  // The Content-Type is among the signed headers: httplib must not add a second.
  httplib::Result response;
  if (method == "PUT")
    response = http->Put(request_target, headers, body.data(), body.size(), "");
  else if (method == "POST")
    response = http->Post(request_target, headers, body, "");
  else if (method == "DELETE")
    response = http->Delete(request_target, headers);
  else
    response = http->Get(request_target, headers);
  if (!response) return {std::string("storage unreachable for ") + operation + ": " + httplib::to_string(response.error()), ""};
  const std::string code = xml_value(response->body, "Code");
  // CompleteMultipartUpload can answer 200 with an error in its body.
  // A deletion succeeds with 200 or 204 depending on the store, and an
  // object already gone is as good as deleted.
  if (method == "DELETE" && (response->status == 200 || response->status == 204 || response->status == 404)) return {};
  if (response->status != expected_status || response->body.find("<Error>") != std::string::npos) {
    return {std::string("storage refused ") + operation + ": HTTP " + std::to_string(response->status) +
                (code.empty() ? "" : " " + code),
            ""};
  }
  if (response_body) *response_body = response->body;
  if (etag) *etag = response->get_header_value("ETag");
  return {};
}

StoreResult ObjectStore::put(const std::string& key, const std::string& body, const std::string& content_type) const {
  return send("PutObject", "PUT", key, {}, body, content_type, 200, nullptr, nullptr);
}

StoreResult ObjectStore::start_multipart(const std::string& key, const std::string& content_type) const {
  std::string answer;
  StoreResult result = send("CreateMultipartUpload", "POST", key, {{"uploads", ""}}, "", content_type, 200, &answer, nullptr);
  if (!result.ok()) return result;
  result.value = xml_value(answer, "UploadId");
  if (result.value.empty()) result.error = "storage answered CreateMultipartUpload without an UploadId";
  return result;
}

StoreResult ObjectStore::upload_part(const std::string& key, const std::string& upload_id, int part_number,
                                     const std::string& body) const {
  std::string etag;
  StoreResult result = send("UploadPart", "PUT", key,
                            {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}}, body, "", 200,
                            nullptr, &etag);
  result.value = etag;
  if (result.ok() && result.value.empty()) result.error = "storage answered UploadPart without an ETag";
  return result;
}

StoreResult ObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                            const std::vector<std::string>& etags) const {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i)
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  return send("CompleteMultipartUpload", "POST", key, {{"uploadId", upload_id}}, xml, "application/xml", 200, nullptr,
              nullptr);
}

void ObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) const {
  send("AbortMultipartUpload", "DELETE", key, {{"uploadId", upload_id}}, "", "", 204, nullptr, nullptr);
}

StoreResult ObjectStore::remove(const std::string& key) const {
  return send("DeleteObject", "DELETE", key, {}, "", "", 204, nullptr, nullptr);
}

std::string ObjectStore::presigned_get(const std::string& key, int expires_seconds) const {
  const Target where = target(key);
  return endpoint_.scheme + "://" + where.host_header + where.path + "?" +
         presign_query(settings_.credentials, SigningScope{settings_.region}, std::time(nullptr), where.host_header,
                       where.path, expires_seconds);
}

}  // namespace relay
