#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace bench {

ServerProcess::ServerProcess(ServerSettings settings) : settings_(std::move(settings)) {
  std::vector<char*> argv;
  for (std::string& arg : settings_.arguments) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int log = open(settings_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + settings_.log_path);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // the bench killed: no server left behind
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  httplib::Client client("127.0.0.1", settings_.port);
  client.set_connection_timeout(1, 0);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto response = client.Get(settings_.health_path);
    if (response && response->status == 200) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(settings_.name + " exited at start; see " + settings_.log_path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop();
  throw std::runtime_error(settings_.name + " not healthy after 10 s; see " + settings_.log_path);
}

ServerProcess::~ServerProcess() { stop(); }

void ServerProcess::stop() {
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
