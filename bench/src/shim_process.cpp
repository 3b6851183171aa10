#include "shim_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>

namespace bench {

ShimProcess::ShimProcess(const ShimSettings& settings) {
  // The bench's clients all come from 127.0.0.1: no rate limits. One worker
  // thread per keep-alive client and a connection per concurrent event.
  std::vector<std::string> args = {settings.binary,
                                   "--host=127.0.0.1",
                                   "--port=" + std::to_string(settings.port),
                                   "--database-url=" + settings.database_url,
                                   "--db-pool-size=" + std::to_string(settings.db_pool_size),
                                   "--worker-threads=" + std::to_string(settings.worker_threads),
                                   "--ip-rate=0",
                                   "--call-rate=0",
                                   "--max-connections-per-ip=0"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log = open(settings.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + settings.log_path);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // the bench killed: no shim left behind
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  httplib::Client client("127.0.0.1", settings.port);
  client.set_connection_timeout(1, 0);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto response = client.Get("/health");
    if (response && response->status == 200) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("vox-shim exited at start; see " + settings.log_path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop();
  throw std::runtime_error("vox-shim not healthy after 10 s; see " + settings.log_path);
}

ShimProcess::~ShimProcess() { stop(); }

void ShimProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace bench
