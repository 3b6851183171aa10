#include "config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace shim {

namespace {

Invocation parse(std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "vox-shim");
  return parse_invocation(int(args.size()), args.data(), [&env](const char* name) -> const char* {
    auto found = env.find(name);
    return found == env.end() ? nullptr : found->second.c_str();
  });
}

}  // namespace

TEST(Config, DefaultsWithoutEnvironmentOrFlags) {
  const Config config = parse({}).config;
  EXPECT_EQ(config.port, 8080);
  EXPECT_EQ(config.statement_timeout_ms, 5000);
  EXPECT_EQ(config.timestamp_tolerance_s, 60);
  EXPECT_EQ(config.host, "127.0.0.1");
}

TEST(Config, EnvironmentThenFlagsWhichWin) {
  const Config config =
      parse({"--port=9001", "--ip-rate", "2.5"}, {{"VOX_SHIM_PORT", "9000"}, {"VOX_SHIM_DATABASE_URL", "dbname=x"}})
          .config;
  EXPECT_EQ(config.port, 9001);
  EXPECT_DOUBLE_EQ(config.ip_rate, 2.5);
  EXPECT_EQ(config.database_url, "dbname=x");
}

TEST(Config, BadValuesNameTheSetting) {
  for (auto args : std::vector<std::vector<const char*>>{
           {"--port=0"}, {"--port=http"}, {"--statement-timeout-ms=-1"}, {"--ip-rate=fast"}, {"--max-body-bytes="}}) {
    try {
      parse(args);
      FAIL() << args[0] << " was accepted";
    } catch (const ConfigError& e) {
      const std::string flag = std::string(args[0]).substr(0, std::string(args[0]).find('='));
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse({}, {{"VOX_SHIM_PORT", "99999"}}), ConfigError);
}

TEST(Config, UnknownFlagsAndMissingValuesAreRefused) {
  EXPECT_THROW(parse({"--prot=1"}), ConfigError);
  EXPECT_THROW(parse({"--port"}), ConfigError);
  EXPECT_THROW(parse({"extra"}), ConfigError);
  EXPECT_THROW(parse({"--ip-burst=0.5"}), ConfigError);
}

TEST(Config, HelpListsEveryFlagWithItsVariable) {
  EXPECT_TRUE(parse({"--help"}).help);
  const std::string text = usage();
  for (const char* expected : {"--port", "VOX_SHIM_PORT", "--database-url", "VOX_SHIM_SECRETS_FILE",
                               "--statement-timeout-ms", "(default 5000)", "--timestamp-tolerance-s"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected;
}

// Each flag's README row names its variable and its default as --help does.
TEST(Config, ReadmeDocumentsEverySettingWithItsDefault) {
  std::ifstream file(VOX_README);
  ASSERT_TRUE(file) << VOX_README;
  std::stringstream readme;
  readme << file.rdbuf();
  const std::string help = usage();
  const std::regex entry(R"(  --([a-z-]+)\n      (VOX_SHIM_[A-Z_]+)  \(default (\(none\)|[^)]*)\))");
  int flags = 0;
  for (std::sregex_iterator it(help.begin(), help.end(), entry), end; it != end; ++it, ++flags) {
    std::string value = (*it)[3];
    const std::string row = "| `--" + (*it)[1].str() + "` | `" + (*it)[2].str() + "` | " +
                            (value == "(none)" ? "none" : "`" + value + "`") + " |";
    EXPECT_NE(readme.str().find(row), std::string::npos) << "README lacks: " << row;
  }
  EXPECT_GE(flags, 20);
}

}  // namespace shim
