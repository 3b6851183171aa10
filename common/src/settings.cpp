#include "settings.hpp"

#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace vox {

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

Setting integer(const char* flag, const char* env, const char* help, int& field, long min, long max) {
  return {flag, env, help, [=, &field](const std::string& v) { field = int(parse_integer(flag, v, min, max)); },
          [&field] { return std::to_string(field); }};
}

Setting size(const char* flag, const char* env, const char* help, size_t& field, long min, long max) {
  return {flag, env, help, [=, &field](const std::string& v) { field = size_t(parse_integer(flag, v, min, max)); },
          [&field] { return std::to_string(field); }};
}

Setting rate(const char* flag, const char* env, const char* help, double& field) {
  return {flag, env, help, [=, &field](const std::string& v) { field = parse_rate(flag, v); },
          [&field] {
            std::ostringstream out;
            out << field;
            return out.str();
          }};
}

Setting boolean(const char* flag, const char* env, const char* help, bool& field) {
  return {flag, env, help,
          [=, &field](const std::string& v) {
            if (v != "true" && v != "false")
              throw ConfigError("--" + std::string(flag) + ": expected true or false, got \"" + v + "\"");
            field = v == "true";
          },
          [&field] { return std::string(field ? "true" : "false"); }};
}

Setting text(const char* flag, const char* env, const char* help, std::string& field) {
  return {flag, env, help, [&field](const std::string& v) { field = v; },
          [&field] { return field.empty() ? std::string("(none)") : field; }};
}

bool apply_settings(const std::vector<Setting>& settings, int argc, const char* const* argv,
                    const std::function<const char*(const char*)>& getenv) {
  const auto find_flag = [&](const std::string& name) -> const Setting& {
    for (const Setting& s : settings)
      if (name == s.flag) return s;
    throw ConfigError("unknown flag --" + name + " (see --help)");
  };
  for (const Setting& s : settings)
    if (const char* value = getenv(s.env)) s.set(value);
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
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
    setting.set(value);
  }
  return help;
}

std::string settings_usage(const std::string& intro, const std::vector<Setting>& settings) {
  std::ostringstream out;
  out << intro;
  for (const Setting& s : settings)
    out << "  --" << s.flag << "\n      " << s.env << "  (default " << s.show() << ")\n      " << s.help << "\n";
  return out.str();
}

}  // namespace vox
