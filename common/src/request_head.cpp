#include "request_head.hpp"

namespace vox {

bool RequestHead::take(char c) {
  if (too_large_) return false;
  ++bytes_;
  ++line_length_;
  if (c == '\n' && previous_ == '\r') {
    if (line_length_ == 2 && lines_ > 0) complete_ = true;
    ++lines_;
    line_length_ = 0;
  }
  previous_ = c;
  const bool header_line = lines_ > 0;
  too_large_ = bytes_ > limits_.max_bytes || (header_line && line_length_ > limits_.max_header_line) ||
               lines_ > limits_.max_header_lines + 1 + (complete_ ? 1 : 0);
  return !too_large_;
}

}  // namespace vox
