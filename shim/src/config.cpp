#include "config.hpp"

#include <vector>

namespace shim {

namespace {

using vox::integer;
using vox::rate;
using vox::Setting;
using vox::text;

// The settings, bound to the fields of `c`.
std::vector<Setting> settings(Config& c) {
  return {
      text("host", "VOX_SHIM_HOST", "address to listen on", c.host),
      integer("port", "VOX_SHIM_PORT", "TCP port to listen on", c.port, 1, 65535),
      text("database-url", "VOX_SHIM_DATABASE_URL", "libpq connection string or postgresql:// URI", c.database_url),
      text("secrets-file", "VOX_SHIM_SECRETS_FILE",
           "JSON array of the secrets accepted on POST /webhooks/vapi (none: that route answers 401)", c.secrets_file),
      integer("db-pool-size", "VOX_SHIM_DB_POOL_SIZE", "database connections", c.db_pool_size, 1, 1000),
      integer("db-pool-wait-ms", "VOX_SHIM_DB_POOL_WAIT_MS", "longest wait for a free connection before 503",
              c.db_pool_wait_ms, 1, 600000),
      integer("db-connect-timeout-s", "VOX_SHIM_DB_CONNECT_TIMEOUT_S", "libpq connect_timeout", c.db_connect_timeout_s,
              2, 600),
      integer("statement-timeout-ms", "VOX_SHIM_STATEMENT_TIMEOUT_MS", "statement_timeout of each connection",
              c.statement_timeout_ms, 1, 3600000),
      integer("lock-timeout-ms", "VOX_SHIM_LOCK_TIMEOUT_MS", "lock_timeout of each connection", c.lock_timeout_ms, 1,
              3600000),
      integer("idle-in-transaction-timeout-ms", "VOX_SHIM_IDLE_IN_TRANSACTION_TIMEOUT_MS",
              "idle_in_transaction_session_timeout of each connection", c.idle_in_transaction_timeout_ms, 1, 3600000),
      integer("db-retries", "VOX_SHIM_DB_RETRIES", "retries after a serialization failure, deadlock or lost connection",
              c.db_retries, 0, 10),
      integer("health-timeout-ms", "VOX_SHIM_HEALTH_TIMEOUT_MS", "GET /health answers 503 past this",
              c.health_timeout_ms, 1, 60000),
      integer("secret-cache-s", "VOX_SHIM_SECRET_CACHE_S", "how long an org's secrets are cached", c.secret_cache_s, 0,
              86400),
      integer("timestamp-tolerance-s", "VOX_SHIM_TIMESTAMP_TOLERANCE_S",
              "largest accepted distance of a signed timestamp from now, either way", c.timestamp_tolerance_s, 1,
              86400),
      vox::size("max-body-bytes", "VOX_SHIM_MAX_BODY_BYTES", "larger bodies get 413", c.max_body_bytes, 1, 1L << 30),
      rate("ip-rate", "VOX_SHIM_IP_RATE", "requests per second per client IP (0: no limit)", c.ip_rate),
      rate("ip-burst", "VOX_SHIM_IP_BURST", "burst per client IP", c.ip_burst),
      rate("call-rate", "VOX_SHIM_CALL_RATE", "requests per second per client IP and call id (0: no limit)",
           c.call_rate),
      rate("call-burst", "VOX_SHIM_CALL_BURST", "burst per client IP and call id", c.call_burst),
      integer("rate-limit-keys", "VOX_SHIM_RATE_LIMIT_KEYS", "clients remembered by each rate limit", c.rate_limit_keys,
              1, 100000000),
      text("trusted-proxies", "VOX_SHIM_TRUSTED_PROXIES",
           "comma-separated load balancer addresses: behind them the client is taken from X-Forwarded-For",
           c.trusted_proxies),
      integer("read-timeout-s", "VOX_SHIM_READ_TIMEOUT_S", "longest time to receive one request (headers and body)",
              c.read_timeout_s, 1, 3600),
      integer("write-timeout-s", "VOX_SHIM_WRITE_TIMEOUT_S", "socket write timeout", c.write_timeout_s, 1, 3600),
      integer("keep-alive-timeout-s", "VOX_SHIM_KEEP_ALIVE_TIMEOUT_S", "idle keep-alive connections close after",
              c.keep_alive_timeout_s, 1, 3600),
      integer("worker-threads", "VOX_SHIM_WORKER_THREADS", "threads serving connections", c.worker_threads, 1, 1024),
      integer("queue-limit", "VOX_SHIM_QUEUE_LIMIT", "accepted connections waiting for a worker (then accept waits)",
              c.queue_limit, 1, 100000),
      integer("max-connections-per-ip", "VOX_SHIM_MAX_CONNECTIONS_PER_IP",
              "connections served at once per peer address, trusted proxies exempt (0: no limit); "
              "more get 503 at once",
              c.max_connections_per_ip, 0, 100000),
      integer("retry-after-s", "VOX_SHIM_RETRY_AFTER_S", "Retry-After of a 503", c.retry_after_s, 1, 3600),
  };
}

}  // namespace

Invocation parse_invocation(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv) {
  Invocation invocation;
  invocation.help = vox::apply_settings(settings(invocation.config), argc, argv, getenv);
  const Config& c = invocation.config;
  if (c.ip_rate > 0 && c.ip_burst < 1) throw ConfigError("--ip-burst: must be at least 1");
  if (c.call_rate > 0 && c.call_burst < 1) throw ConfigError("--call-burst: must be at least 1");
  return invocation;
}

std::string usage() {
  Config defaults;
  return vox::settings_usage(
      "usage: vox-shim [--flag=value ...]\n\n"
      "Receives Vapi webhooks and applies each with one call to vox.handle_event.\n"
      "Every flag can also be set by its environment variable; a flag wins.\n\n",
      settings(defaults));
}

}  // namespace shim
