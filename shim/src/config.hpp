// The shim's settings: each one an environment variable with a matching
// command-line flag (the flag wins), both listed by --help.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "settings.hpp"

namespace shim {

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string database_url = "dbname=vox";  // libpq connection string or URI
  std::string secrets_file;                 // secrets of POST /webhooks/vapi; empty: that route refuses all
  int db_pool_size = 8;
  int db_pool_wait_ms = 2000;
  int db_connect_timeout_s = 2;
  int statement_timeout_ms = 5000;
  int lock_timeout_ms = 2000;
  int idle_in_transaction_timeout_ms = 10000;
  int db_retries = 3;  // attempts after the first on 40001, 40P01 and lost connections
  int health_timeout_ms = 1000;
  int secret_cache_s = 60;
  int timestamp_tolerance_s = 60;
  size_t max_body_bytes = 4 * 1024 * 1024;
  double ip_rate = 200, ip_burst = 400;     // requests per second per client IP
  double call_rate = 50, call_burst = 100;  // per client IP and call id
  int rate_limit_keys = 100000;
  std::string trusted_proxies;  // comma-separated addresses whose X-Forwarded-For is believed
  int read_timeout_s = 5, write_timeout_s = 5, keep_alive_timeout_s = 5;
  int worker_threads = 16;
  int queue_limit = 256;  // accepted connections waiting for a worker
  int max_connections_per_ip = 8;  // connections served at once per peer address (0: no limit)
  int retry_after_s = 1;  // Retry-After on 503
};

using vox::ConfigError;

// What the process was asked to do.
struct Invocation {
  Config config;
  bool help = false;
};

// Reads the environment through getenv (so tests can pass their own), then
// the flags (--name=value or --name value). Throws ConfigError naming the
// setting on an unknown flag or a bad value.
Invocation parse_invocation(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv);

// --help: every flag with its variable, default and meaning.
std::string usage();

}  // namespace shim
