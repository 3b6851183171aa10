#include "request_head.hpp"

#include <gtest/gtest.h>

#include <string>

#include "connection_limit.hpp"

namespace vox {

namespace {

// Feeds `text` byte by byte: whether all of it was taken.
bool take_all(RequestHead& head, const std::string& text) {
  for (char c : text)
    if (!head.take(c)) return false;
  return true;
}

}  // namespace

TEST(RequestHead, EndsAtTheEmptyLine) {
  RequestHead head({});
  EXPECT_TRUE(take_all(head, "GET / HTTP/1.1\r\nHost: a\r\n"));
  EXPECT_FALSE(head.complete());
  EXPECT_TRUE(take_all(head, "\r\n"));
  EXPECT_TRUE(head.complete());
}

TEST(RequestHead, BoundsBytesLinesAndOneLine) {
  const HeadLimits limits{100, 3, 20};
  RequestHead lines(limits);
  EXPECT_TRUE(take_all(lines, "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"));
  RequestHead too_many(limits);
  EXPECT_FALSE(take_all(too_many, "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n"));
  EXPECT_TRUE(too_many.too_large());
  RequestHead long_line(limits);
  EXPECT_FALSE(take_all(long_line, "GET / HTTP/1.1\r\na: " + std::string(30, 'x') + "\r\n\r\n"));
  // The request line is httplib's to bound (414), up to the total.
  RequestHead long_target(limits);
  EXPECT_TRUE(take_all(long_target, "GET /" + std::string(50, 'x') + " HTTP/1.1\r\n\r\n"));
  RequestHead total(limits);
  EXPECT_FALSE(take_all(total, "GET /" + std::string(120, 'x') + " HTTP/1.1\r\n\r\n"));
}

TEST(ConnectionLimit, CountsPerAddressAndFreesOnClose) {
  ConnectionLimit limit(2, {"10.0.0.5"});
  const auto a1 = limit.enter("a");
  {
    const auto a2 = limit.enter("a");
    EXPECT_TRUE(a1 && a2);
    EXPECT_FALSE(limit.enter("a"));
    EXPECT_TRUE(limit.enter("b"));
    const auto p1 = limit.enter("10.0.0.5"), p2 = limit.enter("10.0.0.5"), p3 = limit.enter("10.0.0.5");
    EXPECT_TRUE(p1 && p2 && p3);  // a trusted proxy carries every client
  }
  EXPECT_TRUE(limit.enter("a"));
}

}  // namespace vox
