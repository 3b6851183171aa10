// vox-relay: configuration, signals, server. SIGTERM or SIGINT ends every
// stream, stops accepting, lets requests in flight finish, and exits 0.
#include <cstdlib>
#include <iostream>

#include "config.hpp"
#include "log.hpp"
#include "server.hpp"
#include "stop_signals.hpp"

int main(int argc, char** argv) {
  vox::StopSignals stop_signals;

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
  return stop_signals.serve([&] { return server.run(); }, [&] { server.stop(); }, config.host, config.port);
}
