#include "recording_download.hpp"

#include <httplib.h>

#include <algorithm>

namespace relay {

namespace {

constexpr int kMaxRedirects = 5;
constexpr int kConnectTimeoutSeconds = 10;
constexpr int kReadTimeoutSeconds = 30;

bool is_redirect(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

}  // namespace

Downloaded download_recording(const std::string& url_text, const DownloadFence& fence, const DownloadLimits& limits,
                              const DownloadSink& sink) {
  Downloaded result;
  std::optional<Url> url = parse_url(url_text);
  if (!url) {
    result.error = "download refused: not an absolute http(s) URL";
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + limits.max_time;
  for (int redirects = 0;; ++redirects) {
    const DownloadFence::Verdict verdict = fence.check(*url);
    if (!verdict.refusal.empty()) {
      result.error = verdict.refusal;
      return result;
    }
    httplib::SSLClient client(url->host, url->port);
    // Connect to the address the fence checked, not to a second lookup that
    // could answer differently (DNS rebinding).
    client.set_hostname_addr_map({{url->host, verdict.address}});
    if (!limits.ca_file.empty()) client.set_ca_cert_path(limits.ca_file);
    client.enable_server_certificate_verification(true);
    client.set_follow_location(false);
    client.set_path_encode(false);
    client.set_connection_timeout(kConnectTimeoutSeconds, 0);
    client.set_read_timeout(std::min<long>(kReadTimeoutSeconds, limits.max_time.count()), 0);

    int status = 0;
    std::string location, sink_error;
    const httplib::Result response = client.Get(
        url->target, httplib::Headers{{"Accept", "audio/*, */*"}},
        [&](const httplib::Response& head) {
          status = head.status;
          if (is_redirect(status)) {
            location = head.get_header_value("Location");
            return false;
          }
          if (status != 200) return false;
          result.content_type = head.get_header_value("Content-Type");
          if (head.has_header("Content-Length") && head.get_header_value_u64("Content-Length") > limits.max_bytes) {
            sink_error = "download refused: too large (" + head.get_header_value("Content-Length") + " bytes)";
            return false;
          }
          return true;
        },
        [&](const char* data, size_t size) {
          result.bytes += size;
          if (result.bytes > limits.max_bytes) {
            sink_error = "download refused: too large (over " + std::to_string(limits.max_bytes) + " bytes)";
            return false;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            sink_error = "download failed: took longer than " + std::to_string(limits.max_time.count()) + " s";
            return false;
          }
          return sink(result.content_type, data, size, sink_error);
        });
    if (!sink_error.empty()) {
      result.error = sink_error;
      return result;
    }
    if (is_redirect(status)) {
      if (redirects == kMaxRedirects) {
        result.error = "download refused: more than " + std::to_string(kMaxRedirects) + " redirects";
        return result;
      }
      url = resolve_location(*url, location);
      if (!url) {
        result.error = "download refused: a redirect to an unusable location";
        return result;
      }
      continue;
    }
    if (status != 0 && status != 200) {
      result.error = "download failed: HTTP " + std::to_string(status) + " from " + url->host;
      return result;
    }
    if (!response) {
      result.error = "download failed: " + httplib::to_string(response.error()) + " (" + url->host + ")";
      return result;
    }
    result.path = path_of(url->target);
    return result;
  }
}

}  // namespace relay
