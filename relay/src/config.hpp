// vox-relay's settings: each one an environment variable VOX_RELAY_<NAME>
// with a matching command-line flag (the flag wins), both listed by --help.
#pragma once

#include <functional>
#include <string>

#include "settings.hpp"
#include "sigv4.hpp"

namespace relay {

using vox::ConfigError;

struct Config {
  std::string host = "127.0.0.1";
  int port = 8081;
  std::string database_url = "dbname=vox";  // libpq connection string or URI
  int db_pool_size = 4;
  std::string dashboard_dir;    // empty: /dashboard/ answers 404
  std::string allowed_origins;  // comma-separated origins CORS lets read the API
  int poll_interval_ms = 1000;  // each stream reads at least this often
  int heartbeat_seconds = 15;
  int max_streams = 200;
  int max_streams_per_org = 20;
  int write_timeout_seconds = 10;
  int read_timeout_seconds = 5;     // to receive one request whole (never applies to a response)
  int max_connections_per_ip = 32;  // connections served at once per peer address (0: no limit)
  int retry_after_seconds = 2;      // Retry-After of a 503
  int read_batch = 500;             // events per vox.feed_read

  // The recording archiver: off while s3_endpoint is empty.
  std::string s3_endpoint;
  std::string s3_region = "us-east-1";
  std::string s3_bucket;
  bool s3_path_style = false;
  std::string s3_key_prefix = "recordings/";
  std::string s3_ca_file;
  // From the environment only, never a flag: a flag shows in `ps`.
  AwsCredentials s3_credentials;
  int archive_workers = 2;
  int archive_poll_ms = 2000;
  int archive_lease_seconds = 600;
  int archive_max_seconds = 300;
  size_t archive_max_bytes = size_t(1) << 30;
  std::string archive_download_hosts = "storage.vapi.ai";
  std::string archive_ca_file;
  bool archive_allow_loopback = false;
  int playback_url_seconds = 300;
};

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

}  // namespace relay
