// The settings machinery of vox's programs: each setting an environment
// variable with a matching command-line flag (the flag wins), all listed by
// --help. A program lists its settings as a table bound to its own config.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vox {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One setting, bound to the field of one config object it reads and shows.
struct Setting {
  const char* flag;  // without the leading "--"
  const char* env;
  const char* help;
  std::function<void(const std::string&)> set;  // throws ConfigError on a bad value
  std::function<std::string()> show;            // the value, for --help's default
};

// Whole numbers only, from min to max; otherwise ConfigError naming --flag.
long parse_integer(const char* flag, const std::string& text, long min, long max);
// A number from 0 to 1e9; otherwise ConfigError naming --flag.
double parse_rate(const char* flag, const std::string& text);

Setting integer(const char* flag, const char* env, const char* help, int& field, long min, long max);
Setting size(const char* flag, const char* env, const char* help, size_t& field, long min, long max);
Setting rate(const char* flag, const char* env, const char* help, double& field);
// "true" or "false".
Setting boolean(const char* flag, const char* env, const char* help, bool& field);
// Empty shows as "(none)".
Setting text(const char* flag, const char* env, const char* help, std::string& field);

// Applies the environment through getenv (so tests can pass their own), then
// the flags (--name=value or --name value). Throws ConfigError naming the
// setting on an unknown flag or a bad value. True when --help (or -h) was given.
bool apply_settings(const std::vector<Setting>& settings, int argc, const char* const* argv,
                    const std::function<const char*(const char*)>& getenv);

// --help: `intro`, then every flag with its variable, default (the values the
// settings are bound to) and meaning.
std::string settings_usage(const std::string& intro, const std::vector<Setting>& settings);

}  // namespace vox
