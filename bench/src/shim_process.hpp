// vox-shim run by the bench for the http mode: started with the bench's
// settings, stopped (SIGTERM, then waited for) when destroyed.
#pragma once

#include <string>

namespace bench {

struct ShimSettings {
  std::string binary;
  int port = 0;
  std::string database_url;
  int db_pool_size = 8;
  int worker_threads = 16;
  std::string log_path;
};

class ShimProcess {
 public:
  // Returns once GET /health answers 200; throws if it never does.
  explicit ShimProcess(const ShimSettings& settings);
  ~ShimProcess();
  ShimProcess(const ShimProcess&) = delete;
  ShimProcess& operator=(const ShimProcess&) = delete;
  int pid() const { return pid_; }

 private:
  void stop();
  int pid_ = -1;
};

}  // namespace bench
