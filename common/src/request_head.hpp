// Bounds on the head of a request (its request line and header lines), counted
// as the bytes are read, before httplib stores any of them: one request can
// then hold at most max_bytes of memory in headers, whatever their count.
#pragma once

#include <cstddef>

namespace vox {

struct HeadLimits {
  size_t max_bytes = 32 * 1024;       // request line and headers together
  size_t max_header_lines = 100;      // not counting the request line
  size_t max_header_line = 8 * 1024;  // one header line (httplib bounds the request line: 414)
};

class RequestHead {
 public:
  explicit RequestHead(HeadLimits limits) : limits_(limits) {}
  // Takes the next byte of the request; false once a limit is passed (the
  // byte is then not part of an acceptable head).
  bool take(char c);
  // The empty line that ends the head has been taken.
  bool complete() const { return complete_; }
  bool too_large() const { return too_large_; }

 private:
  HeadLimits limits_;
  size_t bytes_ = 0, lines_ = 0, line_length_ = 0;
  char previous_ = 0;
  bool complete_ = false, too_large_ = false;
};

}  // namespace vox
