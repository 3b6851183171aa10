#include "sse.hpp"

namespace relay {

namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  for (const char c : value)
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  out += '\n';
}

}  // namespace

std::string sse_event(std::string_view type, std::string_view id, std::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + 32);
  if (!type.empty()) append_field(out, "event", type);
  if (!id.empty()) append_field(out, "id", id);
  size_t start = 0;
  for (;;) {
    const size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out += data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + (data.compare(end, 2, "\r\n") == 0 ? 2 : 1);
  }
  out += '\n';
  return out;
}

std::string sse_comment(std::string_view text) {
  std::string out;
  append_field(out, "", text);  // ": text\n"
  out += '\n';
  return out;
}

std::string sse_retry(int milliseconds) { return "retry: " + std::to_string(milliseconds) + "\n\n"; }

}  // namespace relay
