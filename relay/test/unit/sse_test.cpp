#include "sse.hpp"

#include <gtest/gtest.h>

namespace relay {

TEST(Sse, EventWithTypeIdAndData) {
  EXPECT_EQ(sse_event("snapshot", "1/a/b:c/d/0", R"({"calls":[]})"),
            "event: snapshot\nid: 1/a/b:c/d/0\ndata: {\"calls\":[]}\n\n");
}

TEST(Sse, MessageWithoutTypeAndEventWithoutId) {
  EXPECT_EQ(sse_event("", "7", "{}"), "id: 7\ndata: {}\n\n");
  EXPECT_EQ(sse_event("reset", "", R"({"reason":"cursor_invalid"})"),
            "event: reset\ndata: {\"reason\":\"cursor_invalid\"}\n\n");
}

TEST(Sse, EachLineOfDataGetsItsOwnField) {
  EXPECT_EQ(sse_event("", "", "a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  // A trailing line break is an empty last line: the browser gets "x\n" back.
  EXPECT_EQ(sse_event("", "", "x\n"), "data: x\ndata: \n\n");
  EXPECT_EQ(sse_event("", "", ""), "data: \n\n");
}

TEST(Sse, LineBreaksCannotEndATypeOrIdEarly) {
  EXPECT_EQ(sse_event("a\nevent: b", "1\r\ndata: forged", "{}"), "event: aevent: b\nid: 1data: forged\ndata: {}\n\n");
  EXPECT_EQ(sse_event("", std::string("1\0002", 3), "{}"), "id: 12\ndata: {}\n\n");
}

TEST(Sse, CommentAndRetry) {
  EXPECT_EQ(sse_comment("keepalive"), ": keepalive\n\n");
  EXPECT_EQ(sse_comment("a\nb"), ": ab\n\n");
  EXPECT_EQ(sse_retry(2000), "retry: 2000\n\n");
}

}  // namespace relay
