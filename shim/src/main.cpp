// vox-shim: configuration, secrets, signals, server. SIGTERM or SIGINT stops
// accepting, lets requests in flight finish, and exits 0.
#include <cstdlib>
#include <iostream>

#include "config.hpp"
#include "log.hpp"
#include "secrets.hpp"
#include "server.hpp"
#include "stop_signals.hpp"

int main(int argc, char** argv) {
  vox::StopSignals stop_signals;

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
  return stop_signals.serve([&] { return server.run(); }, [&] { server.stop(); }, config.host, config.port);
}
