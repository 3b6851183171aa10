#include "stop_signals.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "log.hpp"

namespace vox {

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int StopSignals::serve(const std::function<bool()>& run, const std::function<void()>& stop, const std::string& host,
                       int port) {
  std::atomic<bool> stopped{false};
  std::thread signal_waiter([&] {
    int signal = 0;
    sigwait(&signals_, &signal);
    log("info", "stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    // stop() does nothing before the server listens: repeat it until run()
    // has returned, so a signal during start-up is not lost.
    while (!stopped) {
      stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const bool served = run();
  stopped = true;
  if (!served) {
    log("error", "could not listen", {{"host", host}, {"port", port}});
    std::_Exit(1);  // the signal thread is still waiting
  }
  signal_waiter.join();
  log("info", "stopped");
  return 0;
}

}  // namespace vox
