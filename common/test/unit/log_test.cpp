#include "log.hpp"

#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using vox::redact_phone_numbers;

// 2026-11-21T14:38:14.123Z
std::chrono::system_clock::time_point sample_time() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1795271894)) + std::chrono::milliseconds(123);
}

void expect_redactions(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(redact_phone_numbers(input), expected) << "input: " << input;
  }
}

void expect_unchanged(const std::vector<std::string>& inputs) {
  for (const auto& input : inputs) {
    EXPECT_EQ(redact_phone_numbers(input), input);
  }
}

// Runs body with fd 2 redirected to a pipe and returns what it wrote. A pipe,
// unlike a regular file, may split writes longer than PIPE_BUF between writers.
template <typename Body>
std::string capture_stderr(Body body) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::string text;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  });
  const int saved = dup(STDERR_FILENO);
  EXPECT_GE(saved, 0);
  EXPECT_EQ(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
  body();
  EXPECT_EQ(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(fds[1]);
  reader.join();
  close(fds[0]);
  return text;
}

size_t count_occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Log, RedactsCommonPhoneFormats) {
  expect_redactions({
      {"+14155550123", "***0123"},
      {"+1 415-555-0123", "***0123"},
      {"(415) 555-0123", "***0123"},
      {"+1 (415) 555-0123", "***0123"},
      {"415.555.0123", "***0123"},
      {"+44 20 7946 0958", "***0958"},
      {"caller 4155550123 hung up", "caller ***0123 hung up"},
      {"sip:+14155550123@example.com", "sip:***0123@example.com"},
      {"number(4155550123)", "number(***0123)"},
      {"order 123456 4155550123", "order 123456 ***0123"},
      {"+14155550123 12345 retries", "***0123 12345 retries"},
      {"from +14155550123 to (415) 555-0199.", "from ***0123 to ***0199."},
  });
}

TEST(Log, RedactsSevenToFifteenDigitsOnly) {
  expect_redactions({
      {"123456", "123456"},
      {"1234567", "***4567"},
      {"123456789012345", "***2345"},
      {"1234567890123456", "1234567890123456"},
      {"12 34 5", "12 34 5"},
      {"12 34 56 7", "***4567"},
  });
}

TEST(Log, LeavesDigitsGluedToWordsAlone) {
  expect_unchanged({
      "call_4155550123abc",
      "asst123456789",
      "x4155550123",
      "4155550123x",
      "5f1c0e2a-1234-4567-8901-123456789abc",
      "00000000-0000-4000-8000-000000000001",
      // The middle groups' eight digits reach letters through single dashes.
      "5f1c0e2a-1234-4567-b901-a23456789abc",
      "5f1c0e2a-1b34-4567-abcd-123456789012",
      "12345678-abcd-4567-8901-5f1c0e2a1b3c",
  });
}

TEST(Log, LeavesShortNumbersTimestampsDecimalsAndAddressesAlone) {
  expect_unchanged({
      "status 503",
      "took 12 ms",
      "2025-11-21T16:00:01Z",
      "2025-11-21T16:00:01.123Z",
      "2025-11-21 16:00:01",
      "2025-11-21 16:00:01+00",
      "on 2025-11-21",
      "Nov 21 2025 16:00:01",
      "took 0.123457 s",
      "1234.567890",
      "client 192.168.100.200",
      "client 192.168.100.200:8080",
  });
}

TEST(Log, FormatsTimestampLevelAndMessageFirst) {
  const std::string line = vox::format_log_line(
      "info", "call ended", nlohmann::json{{"a_route", "/webhook"}, {"b_status", 200}}, sample_time());
  EXPECT_EQ(line, R"({"ts":"2026-11-21T14:38:14.123Z","level":"info","msg":"call ended","a_route":"/webhook",)"
                  R"("b_status":200})");
}

TEST(Log, TimestampKeepsMillisecondsWithLeadingZeros) {
  const auto at =
      std::chrono::system_clock::time_point(std::chrono::seconds(1795271894)) + std::chrono::microseconds(7999);
  const auto line = nlohmann::json::parse(vox::format_log_line("info", "m", nlohmann::json::object(), at));
  EXPECT_EQ(line.at("ts"), "2026-11-21T14:38:14.007Z");
}

TEST(Log, RedactsMessageAndNestedStringValues) {
  const nlohmann::json fields = {
      {"customer", {{"number", "+14155550123"}, {"name", "Ann"}}},
      {"numbers", {"4155550123", 4155550123, nlohmann::json::array({"+1 415 555 0100"})}},
      {"call_id", "5f1c0e2a-1234-4567-8901-123456789abc"},
  };
  const std::string text = vox::format_log_line("warn", "caller +14155550123 hung up", fields, sample_time());
  EXPECT_EQ(count_occurrences(text, "4155550123"), 1u) << "only the JSON number keeps all its digits: " << text;
  const auto line = nlohmann::json::parse(text);
  EXPECT_EQ(line.at("msg"), "caller ***0123 hung up");
  EXPECT_EQ(line.at("customer").at("number"), "***0123");
  EXPECT_EQ(line.at("customer").at("name"), "Ann");
  EXPECT_EQ(line.at("numbers").at(0), "***0123");
  EXPECT_EQ(line.at("numbers").at(1), 4155550123) << "numbers are not strings and are not redacted";
  EXPECT_EQ(line.at("numbers").at(2).at(0), "***0100");
  EXPECT_EQ(line.at("call_id"), "5f1c0e2a-1234-4567-8901-123456789abc");
}

TEST(Log, VerbatimFieldsFollowUnredactedAndCannotOverwrite) {
  const auto line = nlohmann::json::parse(vox::format_log_line(
      "info", "m", nlohmann::json{{"phone", "+14155550123"}}, sample_time(),
      nlohmann::json{{"key", "a/562949953421313.wav"}, {"msg", "fake"}}));
  EXPECT_EQ(line.at("phone"), "***0123");
  EXPECT_EQ(line.at("key"), "a/562949953421313.wav");
  EXPECT_EQ(line.at("msg"), "m");
  EXPECT_EQ(line.at("field_msg"), "fake");
}

TEST(Log, FieldsCannotOverwriteTimestampLevelOrMessage) {
  const auto line = nlohmann::json::parse(
      vox::format_log_line("info", "real", nlohmann::json{{"msg", "fake"}, {"ts", "then"}}, sample_time()));
  EXPECT_EQ(line.at("msg"), "real");
  EXPECT_EQ(line.at("ts"), "2026-11-21T14:38:14.123Z");
  EXPECT_EQ(line.at("field_msg"), "fake");
  EXPECT_EQ(line.at("field_ts"), "then");
}

TEST(Log, InvalidUtf8DoesNotThrow) {
  std::string line;
  EXPECT_NO_THROW(line = vox::format_log_line("info", "bad \xff byte", nlohmann::json::object(), sample_time()));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(line).at("level"), "info");
}

TEST(Log, WritesOneJsonLinePerCallToStderr) {
  const std::string text = capture_stderr([] { vox::log("error", "db down for 4155550123", {{"attempt", 3}}); });
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto lines = split_lines(text);
  ASSERT_EQ(lines.size(), 1u);
  const auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line.at("level"), "error");
  EXPECT_EQ(line.at("msg"), "db down for ***0123");
  EXPECT_EQ(line.at("attempt"), 3);
}

TEST(Log, ConcurrentLinesDoNotInterleave) {
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 200;
  // Long lines make interleaving likely if writes were not whole.
  const std::string padding(5000, 'x');
  const std::string text = capture_stderr([&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kLinesPerThread; ++i) vox::log("info", padding, {{"thread", t}, {"i", i}});
      });
    }
    for (auto& thread : threads) thread.join();
  });
  const auto lines = split_lines(text);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLinesPerThread));
  std::vector<int> next(kThreads, 0);
  for (const auto& text_line : lines) {
    const auto line = nlohmann::json::parse(text_line);  // throws, failing the test, on a torn line
    ASSERT_EQ(line.at("msg"), padding);
    const int t = line.at("thread");
    ASSERT_EQ(line.at("i"), next[t]) << "a thread's lines stay in order";
    ++next[t];
  }
}

}  // namespace
