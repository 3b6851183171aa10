#include "object_key.hpp"

#include <algorithm>
#include <cctype>

#include "download_fence.hpp"
#include "log.hpp"

namespace relay {

namespace {

bool all_of_class(const std::string& text, int (*is_class)(int)) {
  return std::all_of(text.begin(), text.end(), [is_class](unsigned char c) { return is_class(c) != 0; });
}

std::string extension_of(const std::string& url) {
  const std::optional<Url> parsed = parse_url(url);
  const std::string path = parsed ? parsed->target.substr(0, parsed->target.find('?')) : "";
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "bin";
  std::string extension = path.substr(dot + 1);
  if (extension.empty() || extension.size() > 5 || !all_of_class(extension, std::isalnum)) return "bin";
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return extension;
}

}  // namespace

std::string object_key(const std::string& prefix, const std::string& org_id, const std::string& vapi_call_id,
                       int64_t job_id, const std::string& recording_url) {
  return prefix + org_id + "/" + vapi_call_id + "/" + std::to_string(job_id) + "." + extension_of(recording_url);
}

std::string loggable_key(const std::string& key) {
  const size_t slash = key.rfind('/');
  const std::string last = slash == std::string::npos ? key : key.substr(slash + 1);
  const size_t dot = last.find('.');
  const std::string id = last.substr(0, dot);
  const std::string extension = dot == std::string::npos ? "" : last.substr(dot + 1);
  const bool job_named = slash != std::string::npos && !id.empty() && all_of_class(id, std::isdigit) &&
                         !extension.empty() && extension.size() <= 5 && all_of_class(extension, std::isalnum);
  if (!job_named) return vox::redact_phone_numbers(key);
  return vox::redact_phone_numbers(key.substr(0, slash + 1)) + last;
}

}  // namespace relay
