// vox-relay: configuration, signals, server. SIGTERM or SIGINT ends every
// stream, stops accepting, lets requests in flight finish, and exits 0.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <thread>

#include "config.hpp"
#include "log.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  // Signals are taken by one thread with sigwait; blocked first thing, before
  // any other thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  relay::Invocation invocation;
  try {
    invocation = relay::parse_invocation(argc, argv, [](const char* name) { return std::getenv(name); });
  } catch (const relay::ConfigError& e) {
    std::cerr << "vox-relay: " << e.what() << "\n";
    return 2;
  }
  if (invocation.help) {
    std::cout << relay::usage();
    return 0;
  }
  const relay::Config& config = invocation.config;
  if (config.dashboard_dir.empty()) vox::log("info", "no dashboard directory: /dashboard/ answers 404");

  relay::Server server(config);
  std::atomic<bool> stopped{false};
  std::thread signal_waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    vox::log("info", "stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    // stop() does nothing before the server listens: repeat it until run()
    // has returned, so a signal during start-up is not lost.
    while (!stopped) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const bool served = server.run();
  stopped = true;
  if (!served) {
    vox::log("error", "could not listen", {{"host", config.host}, {"port", config.port}});
    std::_Exit(1);  // the signal thread is still waiting
  }
  signal_waiter.join();
  vox::log("info", "stopped");
  return 0;
}
