// How vox-shim and vox-relay stop: SIGTERM or SIGINT, taken by one thread
// with sigwait, stops the server and lets it finish what is in flight.
#pragma once

#include <csignal>
#include <functional>
#include <string>

namespace vox {

class StopSignals {
 public:
  // Blocks SIGTERM and SIGINT and ignores SIGPIPE. Construct it first thing
  // in main, before any other thread starts, so every thread inherits the
  // mask.
  StopSignals();

  // Runs `run` on this thread (it returns false when it could not listen on
  // host:port); a stop signal calls `stop` until `run` has returned.
  // Returns main's exit status.
  int serve(const std::function<bool()>& run, const std::function<void()>& stop, const std::string& host, int port);

 private:
  sigset_t signals_;
};

}  // namespace vox
