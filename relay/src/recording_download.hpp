// Downloads one recording over https through the fence, handing its bytes
// to a sink as they arrive: nothing holds the whole file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "download_fence.hpp"

namespace relay {

struct DownloadLimits {
  std::chrono::seconds max_time;
  uint64_t max_bytes;
  std::string ca_file;  // empty: the system's certificate authorities
};

struct Downloaded {
  std::string error;  // empty on success; otherwise for last_error (never the URL's query)
  std::string content_type;
  std::string path;  // the final URL's path, without its query (for the object's extension)
  uint64_t bytes = 0;
  bool ok() const { return error.empty(); }
};

// `sink` takes each piece, with the response's Content-Type; when it returns
// false the download stops and its `sink_error` becomes the error.
using DownloadSink =
    std::function<bool(const std::string& content_type, const char* data, size_t size, std::string& sink_error)>;

Downloaded download_recording(const std::string& url, const DownloadFence& fence, const DownloadLimits& limits,
                              const DownloadSink& sink);

}  // namespace relay
