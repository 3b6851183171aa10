#include "config.hpp"

#include <vector>

#include "download_fence.hpp"

namespace relay {

namespace {

using vox::boolean;
using vox::integer;
using vox::Setting;
using vox::size;
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
      integer("read-timeout-seconds", "VOX_RELAY_READ_TIMEOUT_SECONDS",
              "longest time to receive one request (its headers), streams aside", c.read_timeout_seconds, 1, 3600),
      integer("max-connections-per-ip", "VOX_RELAY_MAX_CONNECTIONS_PER_IP",
              "connections served at once per peer address, streams included (0: no limit); "
              "more get 503 at once",
              c.max_connections_per_ip, 0, 100000),
      integer("retry-after-seconds", "VOX_RELAY_RETRY_AFTER_SECONDS", "Retry-After of a 503", c.retry_after_seconds, 1,
              3600),
      integer("read-batch", "VOX_RELAY_READ_BATCH", "most events one read of a feed takes", c.read_batch, 1, 100000),
      text("s3-endpoint", "VOX_RELAY_S3_ENDPOINT",
           "S3-compatible storage to archive recordings to, http(s)://host[:port][/path] (none: no archiver)",
           c.s3_endpoint),
      text("s3-region", "VOX_RELAY_S3_REGION", "the bucket's region, as signatures name it", c.s3_region),
      text("s3-bucket", "VOX_RELAY_S3_BUCKET", "the bucket recordings are archived to", c.s3_bucket),
      boolean("s3-path-style", "VOX_RELAY_S3_PATH_STYLE",
              "address the bucket as endpoint/bucket (MinIO, Supabase) instead of bucket.endpoint", c.s3_path_style),
      text("s3-key-prefix", "VOX_RELAY_S3_KEY_PREFIX",
           "prefix of every object's key; the key goes on with org_id/call_id/job.ext", c.s3_key_prefix),
      text("s3-ca-file", "VOX_RELAY_S3_CA_FILE", "PEM certificate authorities for the storage (none: the system's)",
           c.s3_ca_file),
      integer("archive-workers", "VOX_RELAY_ARCHIVE_WORKERS", "recordings archived at once", c.archive_workers, 1, 64),
      integer("archive-poll-ms", "VOX_RELAY_ARCHIVE_POLL_MS", "an idle archiver looks for jobs this often",
              c.archive_poll_ms, 50, 600000),
      integer("archive-lease-seconds", "VOX_RELAY_ARCHIVE_LEASE_SECONDS",
              "a claimed job returns to the queue after this long if its relay died",
              c.archive_lease_seconds, 10, 86400),
      integer("archive-max-seconds", "VOX_RELAY_ARCHIVE_MAX_SECONDS", "longest download of one recording",
              c.archive_max_seconds, 1, 86400),
      size("archive-max-bytes", "VOX_RELAY_ARCHIVE_MAX_BYTES", "largest recording downloaded", c.archive_max_bytes, 1,
           5L << 40),
      text("archive-download-hosts", "VOX_RELAY_ARCHIVE_DOWNLOAD_HOSTS",
           "comma-separated hosts recordings may be downloaded from (*.example.com: its subdomains)",
           c.archive_download_hosts),
      text("archive-ca-file", "VOX_RELAY_ARCHIVE_CA_FILE",
           "PEM certificate authorities for downloads (none: the system's)", c.archive_ca_file),
      boolean("archive-allow-loopback", "VOX_RELAY_ARCHIVE_ALLOW_LOOPBACK",
              "let downloads reach loopback addresses (tests only)", c.archive_allow_loopback),
      integer("playback-url-seconds", "VOX_RELAY_PLAYBACK_URL_SECONDS",
              "how long a playback redirect's presigned URL is valid", c.playback_url_seconds, 1, 604800),
  };
}

}  // namespace

Invocation parse_invocation(int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv) {
  Invocation invocation;
  invocation.help = vox::apply_settings(settings(invocation.config), argc, argv, getenv);
  const Config& c = invocation.config;
  if (c.max_streams_per_org > c.max_streams) throw ConfigError("--max-streams-per-org: must not exceed --max-streams");
  AwsCredentials& credentials = invocation.config.s3_credentials;
  for (auto [name, field] : {std::pair{"VOX_RELAY_S3_ACCESS_KEY_ID", &credentials.access_key_id},
                             std::pair{"VOX_RELAY_S3_SECRET_ACCESS_KEY", &credentials.secret_access_key},
                             std::pair{"VOX_RELAY_S3_SESSION_TOKEN", &credentials.session_token}})
    if (const char* value = getenv(name)) *field = value;
  if (!c.s3_endpoint.empty()) {
    const std::optional<Url> endpoint = parse_url(c.s3_endpoint);
    if (!endpoint || endpoint->target.find('?') != std::string::npos)
      throw ConfigError("--s3-endpoint: must be http(s)://host[:port][/path], without a query");
    if (c.s3_bucket.empty()) throw ConfigError("--s3-bucket: needed with --s3-endpoint");
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
      throw ConfigError("--s3-endpoint: needs VOX_RELAY_S3_ACCESS_KEY_ID and VOX_RELAY_S3_SECRET_ACCESS_KEY");
  }
  return invocation;
}

std::string usage() {
  Config defaults;
  return vox::settings_usage(
      "usage: vox-relay [--flag=value ...]\n\n"
      "Serves each org's live feed of calls (Server-Sent Events) from vox.feed_read, and\n"
      "archives recordings to S3-compatible storage when --s3-endpoint is set.\n"
      "Every flag can also be set by its environment variable; a flag wins.\n"
      "The storage's credentials come from the environment only: VOX_RELAY_S3_ACCESS_KEY_ID,\n"
      "VOX_RELAY_S3_SECRET_ACCESS_KEY and, for temporary ones, VOX_RELAY_S3_SESSION_TOKEN.\n\n",
      settings(defaults));
}

}  // namespace relay
