#include "request_framing.hpp"

#include <algorithm>
#include <cctype>

namespace vox {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trimmed(const std::string& text) {
  const size_t start = text.find_first_not_of(" \t");
  if (start == std::string::npos) return "";
  return text.substr(start, text.find_last_not_of(" \t") - start + 1);
}

}  // namespace

FramingProblem framing_problem(const httplib::Request& request) {
  const size_t hosts = request.get_header_value_count("Host");
  if (hosts > 1) return {400, "more than one Host header"};
  if (hosts == 0 && request.version != "HTTP/1.0") return {400, "no Host header"};

  const size_t lengths = request.get_header_value_count("Content-Length");
  const size_t encodings = request.get_header_value_count("Transfer-Encoding");
  if (lengths > 1) return {400, "more than one Content-Length header"};
  if (encodings > 1) return {400, "more than one Transfer-Encoding header"};
  if (lengths == 1 && encodings == 1) return {400, "both Content-Length and Transfer-Encoding"};
  if (lengths == 1) {
    const std::string value = request.get_header_value("Content-Length");
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return {400, "Content-Length is not a number"};
  }
  if (encodings == 1 && lower(trimmed(request.get_header_value("Transfer-Encoding"))) != "chunked")
    return {400, "Transfer-Encoding other than chunked"};
  // Without either, the end of a POST body is unknown.
  if (request.method == "POST" && lengths == 0 && encodings == 0) return {411, "Content-Length required"};
  return {};
}

bool asks_to_close(const httplib::Request& request) {
  for (size_t i = 0, n = request.get_header_value_count("Connection"); i < n; ++i) {
    const std::string value = request.get_header_value("Connection", "", i);
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      if (lower(trimmed(value.substr(start, end - start))) == "close") return true;
      start = end + 1;
    }
  }
  return false;
}

}  // namespace vox
