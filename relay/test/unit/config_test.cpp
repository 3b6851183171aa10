#include "config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace relay {

namespace {

Invocation parse(std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "vox-relay");
  return parse_invocation(int(args.size()), args.data(), [&env](const char* name) -> const char* {
    auto found = env.find(name);
    return found == env.end() ? nullptr : found->second.c_str();
  });
}

std::string readme() {
  std::ifstream file(VOX_README);
  EXPECT_TRUE(file) << VOX_README;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST(RelayConfig, DefaultsOfTheContract) {
  const Config c = parse({}).config;
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8081);
  EXPECT_EQ(c.database_url, "dbname=vox");
  EXPECT_EQ(c.db_pool_size, 4);
  EXPECT_EQ(c.dashboard_dir, "");
  EXPECT_EQ(c.allowed_origins, "");
  EXPECT_EQ(c.poll_interval_ms, 1000);
  EXPECT_EQ(c.heartbeat_seconds, 15);
  EXPECT_EQ(c.max_streams, 200);
  EXPECT_EQ(c.max_streams_per_org, 20);
  EXPECT_EQ(c.write_timeout_seconds, 10);
  EXPECT_EQ(c.retry_after_seconds, 2);
  EXPECT_EQ(c.read_batch, 500);
  EXPECT_EQ(c.read_timeout_seconds, 5);
  EXPECT_EQ(c.max_connections_per_ip, 32);
}

TEST(RelayConfig, EnvironmentThenFlagsWhichWin) {
  const Config c = parse({"--port=9001", "--allowed-origins", "https://a.example, https://b.example"},
                         {{"VOX_RELAY_PORT", "9000"},
                          {"VOX_RELAY_DASHBOARD_DIR", "/srv/dashboard"},
                          {"VOX_RELAY_HEARTBEAT_SECONDS", "3"}})
                       .config;
  EXPECT_EQ(c.port, 9001);
  EXPECT_EQ(c.dashboard_dir, "/srv/dashboard");
  EXPECT_EQ(c.heartbeat_seconds, 3);
  EXPECT_EQ(c.allowed_origins, "https://a.example, https://b.example");
}

TEST(RelayConfig, BadValuesNameTheSetting) {
  for (auto args : std::vector<std::vector<const char*>>{{"--port=0"},
                                                         {"--max-streams=many"},
                                                         {"--poll-interval-ms=10"},
                                                         {"--read-batch=0"},
                                                         {"--write-timeout-seconds="}}) {
    try {
      parse(args);
      FAIL() << args[0] << " was accepted";
    } catch (const ConfigError& e) {
      const std::string flag = std::string(args[0]).substr(0, std::string(args[0]).find('='));
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse({}, {{"VOX_RELAY_DB_POOL_SIZE", "0"}}), ConfigError);
}

TEST(RelayConfig, UnknownFlagsMissingValuesAndImpossibleLimitsAreRefused) {
  EXPECT_THROW(parse({"--secrets-file=x"}), ConfigError);
  EXPECT_THROW(parse({"--port"}), ConfigError);
  EXPECT_THROW(parse({"extra"}), ConfigError);
  EXPECT_THROW(parse({"--max-streams=10", "--max-streams-per-org=11"}), ConfigError);
  EXPECT_NO_THROW(parse({"--max-streams=10", "--max-streams-per-org=10"}));
}

TEST(RelayConfig, HelpListsEveryFlagWithItsVariable) {
  EXPECT_TRUE(parse({"--help"}).help);
  const std::string text = usage();
  for (const char* expected : {"--port", "VOX_RELAY_PORT", "(default 8081)", "--dashboard-dir",
                               "VOX_RELAY_DASHBOARD_DIR  (default (none))", "--max-streams-per-org"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected;
}

// README's vox-relay configuration table has a row for each flag, naming its
// variable and default as --help does, and no other row.
TEST(RelayConfig, TheArchiverIsOffByDefaultWithSafeDefaults) {
  const Config c = parse({}).config;
  EXPECT_EQ(c.s3_endpoint, "");
  EXPECT_EQ(c.s3_region, "us-east-1");
  EXPECT_FALSE(c.s3_path_style);
  EXPECT_EQ(c.s3_key_prefix, "recordings/");
  EXPECT_EQ(c.archive_download_hosts, "storage.vapi.ai");
  EXPECT_FALSE(c.archive_allow_loopback);
  EXPECT_EQ(c.archive_max_bytes, size_t(1) << 30);
  EXPECT_EQ(c.playback_url_seconds, 300);
}

TEST(RelayConfig, StorageNeedsABucketAndCredentialsFromTheEnvironment) {
  const std::map<std::string, std::string> keys = {{"VOX_RELAY_S3_ACCESS_KEY_ID", "AKID"},
                                                   {"VOX_RELAY_S3_SECRET_ACCESS_KEY", "secret"},
                                                   {"VOX_RELAY_S3_SESSION_TOKEN", "session"}};
  const Config c =
      parse({"--s3-endpoint=https://s3.eu-west-1.amazonaws.com", "--s3-bucket=clinic", "--s3-path-style=true"}, keys)
          .config;
  EXPECT_TRUE(c.s3_path_style);
  EXPECT_EQ(c.s3_credentials.access_key_id, "AKID");
  EXPECT_EQ(c.s3_credentials.secret_access_key, "secret");
  EXPECT_EQ(c.s3_credentials.session_token, "session");
  EXPECT_THROW(parse({"--s3-endpoint=https://s3.example"}, keys), ConfigError);
  EXPECT_THROW(parse({"--s3-endpoint=https://s3.example", "--s3-bucket=b"}), ConfigError);
  EXPECT_THROW(parse({"--s3-endpoint=https://s3.example/?x=1", "--s3-bucket=b"}, keys), ConfigError);
  EXPECT_EQ(parse({"--s3-endpoint=https://p.supabase.co/storage/v1/s3", "--s3-bucket=b"}, keys).config.s3_endpoint,
            "https://p.supabase.co/storage/v1/s3");
  EXPECT_THROW(parse({"--s3-endpoint=s3.example", "--s3-bucket=b"}, keys), ConfigError);
  EXPECT_THROW(parse({"--s3-path-style=yes"}), ConfigError);
  // A credential is never a flag: it would show in `ps`.
  EXPECT_THROW(parse({"--s3-secret-access-key=secret"}), ConfigError);
}

TEST(RelayConfig, ReadmeTableListsExactlyWhatHelpLists) {
  const std::string text = readme();
  const std::string help = usage();
  const std::regex entry(R"(  --([a-z0-9-]+)\n      (VOX_RELAY_[A-Z0-9_]+)  \(default (\(none\)|[^)]*)\))");
  std::set<std::string> rows;
  for (std::sregex_iterator it(help.begin(), help.end(), entry), end; it != end; ++it) {
    const std::string value = (*it)[3];
    const std::string row = "| `--" + (*it)[1].str() + "` | `" + (*it)[2].str() + "` | " +
                            (value == "(none)" ? "none" : "`" + value + "`") + " |";
    EXPECT_NE(text.find(row), std::string::npos) << "README lacks: " << row;
    rows.insert((*it)[2].str());
  }
  EXPECT_EQ(rows.size(), 30u);
  const std::regex readme_row(R"(\| `--[a-z0-9-]+` \| `(VOX_RELAY_[A-Z0-9_]+)` \|)");
  for (std::sregex_iterator it(text.begin(), text.end(), readme_row), end; it != end; ++it)
    EXPECT_EQ(rows.count((*it)[1].str()), 1u) << "README documents a flag --help does not list: " << (*it)[1];
}

}  // namespace relay
