// A server the bench runs (vox-shim, vox-relay): started with its arguments
// and its output in a log, ready once GET health_path answers 200, stopped
// (SIGTERM, then waited for) when destroyed.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct ServerSettings {
  std::string name;                    // in messages
  std::vector<std::string> arguments;  // the binary first
  int port = 0;
  std::string health_path;
  std::string log_path;
};

class ServerProcess {
 public:
  // Returns once healthy; throws if it never is.
  explicit ServerProcess(ServerSettings settings);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  int pid() const { return pid_; }

 private:
  void stop();
  ServerSettings settings_;
  int pid_ = -1;
};

}  // namespace bench
