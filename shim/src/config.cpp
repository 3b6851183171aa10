#include "config.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <vector>

namespace shim {

namespace {

struct Setting {
  const char* flag;  // without the leading "--"
  const char* env;
  const char* help;
  std::function<void(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show;  // the default, for --help
};

long parse_integer(const char* flag, const std::string& text, long min, long max) {
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max)
    throw ConfigError("--" + std::string(flag) + ": expected an integer from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got \"" + text + "\"");
  return value;
}

double parse_rate(const char* flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !(value >= 0) || value > 1e9)
    throw ConfigError("--" + std::string(flag) + ": expected a number from 0 to 1e9, got \"" + text + "\"");
  return value;
}

Setting integer(const char* flag, const char* env, const char* help, int Config::*field, long min, long max) {
  return {flag, env, help, [=](Config& c, const std::string& v) { c.*field = int(parse_integer(flag, v, min, max)); },
          [=](const Config& c) { return std::to_string(c.*field); }};
}

Setting rate(const char* flag, const char* env, const char* help, double Config::*field) {
  return {flag, env, help, [=](Config& c, const std::string& v) { c.*field = parse_rate(flag, v); },
          [=](const Config& c) {
            std::ostringstream out;
            out << c.*field;
            return out.str();
          }};
}

Setting text(const char* flag, const char* env, const char* help, std::string Config::*field) {
  return {flag, env, help, [=](Config& c, const std::string& v) { c.*field = v; },
          [=](const Config& c) { return (c.*field).empty() ? std::string("(none)") : c.*field; }};
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = {
      text("host", "VOX_SHIM_HOST", "address to listen on", &Config::host),
      integer("port", "VOX_SHIM_PORT", "TCP port to listen on", &Config::port, 1, 65535),
      text("database-url", "VOX_SHIM_DATABASE_URL", "libpq connection string or postgresql:// URI",
           &Config::database_url),
      text("secrets-file", "VOX_SHIM_SECRETS_FILE",
           "JSON array of the secrets accepted on POST /webhooks/vapi (none: that route answers 401)",
           &Config::secrets_file),
      integer("db-pool-size", "VOX_SHIM_DB_POOL_SIZE", "database connections", &Config::db_pool_size, 1, 1000),
      integer("db-pool-wait-ms", "VOX_SHIM_DB_POOL_WAIT_MS", "longest wait for a free connection before 503",
              &Config::db_pool_wait_ms, 1, 600000),
      integer("db-connect-timeout-s", "VOX_SHIM_DB_CONNECT_TIMEOUT_S", "libpq connect_timeout",
              &Config::db_connect_timeout_s, 2, 600),
      integer("statement-timeout-ms", "VOX_SHIM_STATEMENT_TIMEOUT_MS", "statement_timeout of each connection",
              &Config::statement_timeout_ms, 1, 3600000),
      integer("lock-timeout-ms", "VOX_SHIM_LOCK_TIMEOUT_MS", "lock_timeout of each connection",
              &Config::lock_timeout_ms, 1, 3600000),
      integer("idle-in-transaction-timeout-ms", "VOX_SHIM_IDLE_IN_TRANSACTION_TIMEOUT_MS",
              "idle_in_transaction_session_timeout of each connection", &Config::idle_in_transaction_timeout_ms, 1,
              3600000),
      integer("db-retries", "VOX_SHIM_DB_RETRIES", "retries after a serialization failure, deadlock or lost connection",
              &Config::db_retries, 0, 10),
      integer("health-timeout-ms", "VOX_SHIM_HEALTH_TIMEOUT_MS", "GET /health answers 503 past this",
              &Config::health_timeout_ms, 1, 60000),
      integer("secret-cache-s", "VOX_SHIM_SECRET_CACHE_S", "how long an org's secrets are cached",
              &Config::secret_cache_s, 0, 86400),
      integer("timestamp-tolerance-s", "VOX_SHIM_TIMESTAMP_TOLERANCE_S",
              "largest accepted distance of a signed timestamp from now, either way", &Config::timestamp_tolerance_s, 1,
              86400),
      {"max-body-bytes", "VOX_SHIM_MAX_BODY_BYTES", "larger bodies get 413",
       [](Config& c, const std::string& v) {
         c.max_body_bytes = size_t(parse_integer("max-body-bytes", v, 1, 1L << 30));
       },
       [](const Config& c) { return std::to_string(c.max_body_bytes); }},
      rate("ip-rate", "VOX_SHIM_IP_RATE", "requests per second per client IP (0: no limit)", &Config::ip_rate),
      rate("ip-burst", "VOX_SHIM_IP_BURST", "burst per client IP", &Config::ip_burst),
      rate("call-rate", "VOX_SHIM_CALL_RATE", "requests per second per client IP and call id (0: no limit)",
           &Config::call_rate),
      rate("call-burst", "VOX_SHIM_CALL_BURST", "burst per client IP and call id", &Config::call_burst),
      integer("rate-limit-keys", "VOX_SHIM_RATE_LIMIT_KEYS", "clients remembered by each rate limit",
              &Config::rate_limit_keys, 1, 100000000),
      text("trusted-proxies", "VOX_SHIM_TRUSTED_PROXIES",
           "comma-separated load balancer addresses: behind them the client is taken from X-Forwarded-For",
           &Config::trusted_proxies),
      integer("read-timeout-s", "VOX_SHIM_READ_TIMEOUT_S", "longest time to receive one request (headers and body)",
              &Config::read_timeout_s, 1, 3600),
      integer("write-timeout-s", "VOX_SHIM_WRITE_TIMEOUT_S", "socket write timeout", &Config::write_timeout_s, 1, 3600),
      integer("keep-alive-timeout-s", "VOX_SHIM_KEEP_ALIVE_TIMEOUT_S", "idle keep-alive connections close after",
              &Config::keep_alive_timeout_s, 1, 3600),
      integer("worker-threads", "VOX_SHIM_WORKER_THREADS", "threads serving connections", &Config::worker_threads, 1,
              1024),
      integer("queue-limit", "VOX_SHIM_QUEUE_LIMIT", "accepted connections waiting for a worker (then accept waits)",
              &Config::queue_limit, 1, 100000),
      integer("max-connections-per-ip", "VOX_SHIM_MAX_CONNECTIONS_PER_IP",
              "connections served at once per peer address, trusted proxies exempt (0: no limit); "
              "more get 503 at once",
              &Config::max_connections_per_ip, 0, 100000),
      integer("retry-after-s", "VOX_SHIM_RETRY_AFTER_S", "Retry-After of a 503", &Config::retry_after_s, 1, 3600),
  };
  return all;
}

const Setting& find_flag(const std::string& name) {
  for (const Setting& s : settings())
    if (name == s.flag) return s;
  throw ConfigError("unknown flag --" + name + " (see --help)");
}

}  // namespace

Invocation parse_invocation(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv) {
  Invocation invocation;
  for (const Setting& s : settings())
    if (const char* value = getenv(s.env)) s.set(invocation.config, value);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      invocation.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw ConfigError("unexpected argument \"" + arg + "\" (see --help)");
    arg.erase(0, 2);
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    const Setting& setting = find_flag(name);
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw ConfigError("--" + name + " needs a value");
    }
    setting.set(invocation.config, value);
  }
  const Config& c = invocation.config;
  if (c.ip_rate > 0 && c.ip_burst < 1) throw ConfigError("--ip-burst: must be at least 1");
  if (c.call_rate > 0 && c.call_burst < 1) throw ConfigError("--call-burst: must be at least 1");
  return invocation;
}

std::string usage() {
  std::ostringstream out;
  const Config defaults;
  out << "usage: vox-shim [--flag=value ...]\n\n"
         "Receives Vapi webhooks and applies each with one call to vox.handle_event.\n"
         "Every flag can also be set by its environment variable; a flag wins.\n\n";
  for (const Setting& s : settings())
    out << "  --" << s.flag << "\n      " << s.env << "  (default " << s.show(defaults) << ")\n      " << s.help
        << "\n";
  return out.str();
}

}  // namespace shim
