// The dashboard's files, served from --dashboard-dir. A request names a file
// below that directory and nothing else: no "..", no hidden files, no
// symbolic link leading out of it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

struct StaticFile {
  std::string path;          // the file on disk, resolved
  std::string content_type;  // from its extension
};

class StaticFiles {
 public:
  // `root` empty: no dashboard, every lookup finds nothing.
  explicit StaticFiles(const std::string& root);

  // The file for `relative` (the part of the decoded URL path after
  // /dashboard/; empty or ending in '/' means that directory's index.html),
  // or nothing: not there, not a regular file, or not allowed.
  std::optional<StaticFile> find(std::string_view relative) const;

  bool enabled() const { return !root_.empty(); }

 private:
  std::string root_;  // resolved, without a trailing '/'
};

// The Content-Type for a file name, by its extension (lowercase or not);
// application/octet-stream when unknown.
std::string content_type_for(std::string_view name);

// Whether a relative path may be served: segments separated by single '/',
// none empty (except a final one, for a directory), none starting with '.',
// no '\' and no control characters.
bool is_safe_relative_path(std::string_view relative);

}  // namespace relay
