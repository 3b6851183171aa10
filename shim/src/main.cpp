// vox-shim: configuration, secrets, signals, server. SIGTERM or SIGINT stops
// accepting, lets requests in flight finish, and exits 0.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <thread>

#include "config.hpp"
#include "log.hpp"
#include "secrets.hpp"
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

  shim::Invocation invocation;
  try {
    invocation = shim::parse_invocation(argc, argv, [](const char* name) { return std::getenv(name); });
  } catch (const shim::ConfigError& e) {
    std::cerr << "vox-shim: " << e.what() << "\n";
    return 2;
  }
  if (invocation.help) {
    std::cout << shim::usage();
    return 0;
  }
  const shim::Config& config = invocation.config;
  std::vector<shim::Secret> secrets;
  try {
    if (!config.secrets_file.empty()) secrets = shim::load_secrets_file(config.secrets_file);
  } catch (const std::exception& e) {
    std::cerr << "vox-shim: " << e.what() << "\n";
    return 2;
  }
  if (secrets.empty()) vox::log("warning", "no shim secrets: POST /webhooks/vapi answers 401 to every request");

  shim::Server server(config, std::move(secrets));
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
