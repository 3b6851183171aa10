#include "config.hpp"

#include <vector>

namespace relay {

namespace {

using vox::integer;
using vox::Setting;
using vox::text;

// The settings, bound to the fields of `c`.
std::vector<Setting> settings(Config& c) {
  return {
      text("host", "VOX_RELAY_HOST", "address to listen on", c.host),
      integer("port", "VOX_RELAY_PORT", "TCP port to listen on", c.port, 1, 65535),
      text("database-url", "VOX_RELAY_DATABASE_URL",
           "libpq connection string or postgresql:// URI of a role granted vox_relay", c.database_url),
      integer("db-pool-size", "VOX_RELAY_DB_POOL_SIZE", "database connections shared by all streams", c.db_pool_size, 1,
              1000),
      text("dashboard-dir", "VOX_RELAY_DASHBOARD_DIR",
           "directory served at /dashboard/ (none: /dashboard/ answers 404)", c.dashboard_dir),
      text("allowed-origins", "VOX_RELAY_ALLOWED_ORIGINS",
           "comma-separated origins (https://app.example.com) whose pages may read the API (none: no CORS)",
           c.allowed_origins),
      integer("poll-interval-ms", "VOX_RELAY_POLL_INTERVAL_MS",
              "each stream reads its feed at least this often, notification or not", c.poll_interval_ms, 50, 60000),
      integer("heartbeat-seconds", "VOX_RELAY_HEARTBEAT_SECONDS", "a keepalive comment after this much idleness",
              c.heartbeat_seconds, 1, 3600),
      integer("max-streams", "VOX_RELAY_MAX_STREAMS", "open feed streams in all (more get 503)", c.max_streams, 1,
              100000),
      integer("max-streams-per-org", "VOX_RELAY_MAX_STREAMS_PER_ORG", "open feed streams per org (more get 503)",
              c.max_streams_per_org, 1, 100000),
      integer("write-timeout-seconds", "VOX_RELAY_WRITE_TIMEOUT_SECONDS",
              "a client that takes longer to accept a write is dropped", c.write_timeout_seconds, 1, 3600),
      integer("retry-after-seconds", "VOX_RELAY_RETRY_AFTER_SECONDS", "Retry-After of a 503", c.retry_after_seconds, 1,
              3600),
      integer("read-batch", "VOX_RELAY_READ_BATCH", "most events one read of a feed takes", c.read_batch, 1, 100000),
  };
}

}  // namespace

Invocation parse_invocation(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv) {
  Invocation invocation;
  invocation.help = vox::apply_settings(settings(invocation.config), argc, argv, getenv);
  const Config& c = invocation.config;
  if (c.max_streams_per_org > c.max_streams) throw ConfigError("--max-streams-per-org: must not exceed --max-streams");
  return invocation;
}

std::string usage() {
  Config defaults;
  return vox::settings_usage(
      "usage: vox-relay [--flag=value ...]\n\n"
      "Serves each org's live feed of calls (Server-Sent Events) from vox.feed_read.\n"
      "Every flag can also be set by its environment variable; a flag wins.\n\n",
      settings(defaults));
}

}  // namespace relay
