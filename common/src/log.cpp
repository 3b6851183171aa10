#include "log.hpp"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <vector>

namespace vox {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Letters, digits and '_' make up identifiers: a number touching one is part of a word.
bool is_word(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool is_plain_separator(char c) { return c == ' ' || c == '-' || c == '.'; }

// Length of the separator at i between two digit groups, or 0 when none: a
// space, dash, dot or parenthesis, or a parenthesis with one of the others on
// its outer side, as in "+1 (415) 555-0123". A digit must follow.
size_t separator_length(std::string_view t, size_t i) {
  const auto digit_at = [&](size_t j) { return j < t.size() && is_digit(t[j]); };
  if (i >= t.size()) return 0;
  const char a = t[i];
  if ((is_plain_separator(a) || a == '(' || a == ')') && digit_at(i + 1)) return 1;
  if (i + 1 < t.size()) {
    const char b = t[i + 1];
    const bool pair = (a == ')' && is_plain_separator(b)) || (is_plain_separator(a) && b == '(');
    if (pair && digit_at(i + 2)) return 2;
  }
  return 0;
}

// A dash joins words in identifiers such as UUIDs, so a number reaching a
// word through one dash is glued to it as well.
bool glued_before(std::string_view t, size_t start) {
  return start > 0 && (is_word(t[start - 1]) || (t[start - 1] == '-' && start > 1 && is_word(t[start - 2])));
}

bool glued_after(std::string_view t, size_t end) {
  return end < t.size() && (is_word(t[end]) || (t[end] == '-' && end + 1 < t.size() && is_word(t[end + 1])));
}

// A maximal run of digit groups joined by separators.
struct Run {
  size_t end = 0;  // one past the last digit
  std::vector<std::string_view> groups;
  std::vector<std::string_view> separators;
  size_t digit_count = 0;
};

// With stop_at_space, the run ends before a separator that holds a space.
Run scan_run(std::string_view t, size_t first_digit, bool stop_at_space) {
  Run run;
  size_t i = first_digit;
  for (;;) {
    const size_t group_start = i;
    while (i < t.size() && is_digit(t[i])) ++i;
    run.groups.push_back(t.substr(group_start, i - group_start));
    run.digit_count += i - group_start;
    const size_t sep = separator_length(t, i);
    if (sep == 0 || (stop_at_space && t.substr(i, sep).find(' ') != std::string_view::npos)) break;
    run.separators.push_back(t.substr(i, sep));
    i += sep;
  }
  run.end = i;
  return run;
}

bool all_separators_are(const Run& run, std::string_view s) {
  for (const auto& sep : run.separators) {
    if (sep != s) return false;
  }
  return true;
}

// Runs that have the shape of something else commonly logged, which the
// 7-to-15-digit rule alone would mangle: dates, times, decimals, IPv4.
bool looks_like_other_number(std::string_view t, const Run& run) {
  const auto& g = run.groups;
  const auto& s = run.separators;
  const bool iso_date =
      g.size() >= 3 && g[0].size() == 4 && g[1].size() == 2 && g[2].size() == 2 && s[0] == "-" && s[1] == "-";
  // "Nov 21 2025 16:00": the run's last group is the hour of a time of day.
  const bool hour = g.back().size() <= 2 && run.end + 1 < t.size() && t[run.end] == ':' && is_digit(t[run.end + 1]);
  const bool decimal = s.size() == 1 && s[0] == ".";
  bool ipv4 = g.size() == 4 && all_separators_are(run, ".");
  for (const auto& group : g) ipv4 = ipv4 && group.size() <= 3;
  return iso_date || hour || decimal || ipv4;
}

std::string rfc3339_millis(std::chrono::system_clock::time_point at) {
  using std::chrono::floor;
  const auto millis = floor<std::chrono::milliseconds>(at);
  const auto seconds = floor<std::chrono::seconds>(millis);
  const time_t t = std::chrono::system_clock::to_time_t(seconds);
  struct tm utc {};
  gmtime_r(&t, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>((millis - seconds).count()));
  return buf;
}

nlohmann::ordered_json redacted(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return redact_phone_numbers(value.get_ref<const std::string&>());
    case nlohmann::json::value_t::object: {
      auto out = nlohmann::ordered_json::object();
      for (const auto& [key, item] : value.items()) out[key] = redacted(item);
      return out;
    }
    case nlohmann::json::value_t::array: {
      auto out = nlohmann::ordered_json::array();
      for (const auto& item : value) out.push_back(redacted(item));
      return out;
    }
    default:
      return value;
  }
}

}  // namespace

std::string redact_phone_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool opener = (c == '+' || c == '(') && i + 1 < text.size() && is_digit(text[i + 1]);
    if (!opener && !is_digit(c)) {
      out += c;
      ++i;
      continue;
    }
    if (opener && glued_before(text, i)) {
      // "number(4155550123)": the word touches the parenthesis, not the digits.
      out += c;
      ++i;
      continue;
    }
    const size_t first_digit = opener ? i + 1 : i;
    Run run = scan_run(text, first_digit, false);
    if (run.digit_count > 15) {
      // "order 123456 4155550123": numbers next to each other must not hide a phone number.
      run = scan_run(text, first_digit, true);
    }
    const bool phone = run.digit_count >= 7 && run.digit_count <= 15 && !glued_before(text, i) &&
                       !glued_after(text, run.end) && !looks_like_other_number(text, run);
    if (phone) {
      std::string last_four;
      for (auto g = run.groups.rbegin(); g != run.groups.rend() && last_four.size() < 4; ++g) {
        const size_t take = std::min(g->size(), 4 - last_four.size());
        last_four.insert(0, g->substr(g->size() - take));
      }
      out += "***";
      out += last_four;
    } else {
      out.append(text.substr(i, run.end - i));
    }
    i = run.end;
  }
  return out;
}

std::string format_log_line(std::string_view level, std::string_view message, const nlohmann::json& fields,
                            std::chrono::system_clock::time_point at, const nlohmann::json& verbatim) {
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["ts"] = rfc3339_millis(at);
  line["level"] = redact_phone_numbers(level);
  line["msg"] = redact_phone_numbers(message);
  // A field must not overwrite ts, level or msg.
  const auto add = [&line](const std::string& key, nlohmann::ordered_json value) {
    line[line.contains(key) ? "field_" + key : key] = std::move(value);
  };
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) add(key, redacted(value));
  } else if (!fields.is_null()) {
    line["fields"] = redacted(fields);
  }
  for (const auto& [key, value] : verbatim.items()) add(key, value);
  // Invalid UTF-8 in a message must not make logging throw.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void log(std::string_view level, std::string_view message, const nlohmann::json& fields,
         const nlohmann::json& verbatim) {
  std::string line = format_log_line(level, message, fields, std::chrono::system_clock::now(), verbatim);
  line += '\n';
  // A line longer than PIPE_BUF may be written in pieces; the lock keeps
  // another thread's line from landing between them.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // stderr is gone: there is nowhere to report it
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace vox
