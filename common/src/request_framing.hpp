// What a request's head must satisfy beyond httplib's own checks, so that the
// shim and any proxy in front of it cannot read its framing differently
// (RFC 9112 §6.3, §3.2): one plain Content-Length or exactly
// "Transfer-Encoding: chunked", never both, and exactly one Host.
#pragma once

#include <string>

#include <httplib.h>

namespace vox {

struct FramingProblem {
  int status = 0;  // 0: none; else 400 or 411
  std::string error;
};

FramingProblem framing_problem(const httplib::Request& request);

// Connection names the close option, in any letter case (RFC 9110 §7.6.1).
bool asks_to_close(const httplib::Request& request);

}  // namespace vox
