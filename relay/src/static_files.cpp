#include "static_files.hpp"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <utility>

namespace relay {

namespace {

// realpath(3): the path with every symbolic link, "." and ".." resolved.
std::optional<std::string> resolved(const std::string& path) {
  char buffer[PATH_MAX];
  if (!realpath(path.c_str(), buffer)) return std::nullopt;
  return std::string(buffer);
}

}  // namespace

StaticFiles::StaticFiles(const std::string& root) {
  if (root.empty()) return;
  // A directory that cannot be resolved serves nothing; the files are
  // looked up on each request, so they may be replaced while running.
  root_ = resolved(root).value_or(root);
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

bool is_safe_relative_path(std::string_view relative) {
  size_t start = 0;
  while (start < relative.size()) {
    const size_t end = std::min(relative.find('/', start), relative.size());
    const std::string_view segment = relative.substr(start, end - start);
    if (segment.empty() || segment.front() == '.') return false;
    for (const char c : segment)
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    start = end + 1;
  }
  return true;
}

std::optional<StaticFile> StaticFiles::find(std::string_view relative) const {
  if (root_.empty() || !is_safe_relative_path(relative)) return std::nullopt;
  std::string name(relative);
  if (name.empty() || name.back() == '/') name += "index.html";
  const std::optional<std::string> path = resolved(root_ + "/" + name);
  // A symbolic link may point anywhere: what it resolves to must still be inside.
  if (!path || path->compare(0, root_.size() + 1, root_ + "/") != 0) return std::nullopt;
  struct stat info {};
  if (stat(path->c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  return StaticFile{*path, content_type_for(name)};
}

std::string content_type_for(std::string_view name) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
  };
  const size_t slash = name.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string extension(base.substr(dot + 1));
  for (char& c : extension) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [ext, type] : kTypes)
    if (extension == ext) return type;
  return "application/octet-stream";
}

}  // namespace relay
