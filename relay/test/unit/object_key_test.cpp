#include "object_key.hpp"

#include <gtest/gtest.h>

namespace relay {
namespace {

constexpr const char* kOrg = "9670c29a-98b9-436c-9666-b8e0f236a3df";

TEST(ObjectKey, NamesTheOrgCallJobAndTheRecordingsExtension) {
  EXPECT_EQ(object_key("recordings/", kOrg, "call_1", 42, "https://storage.vapi.ai/abc-mono.WAV?x=y.mp3"),
            std::string("recordings/") + kOrg + "/call_1/42.wav");
  for (const char* url : {"https://h/a", "https://h/a.toolong", "https://h/a.w-v", "https://h/dir.d/a", "not a url"})
    EXPECT_EQ(object_key("", kOrg, "c", 7, url), std::string(kOrg) + "/c/7.bin") << url;
}

TEST(ObjectKey, LogsTheQueueIdWholeEvenAtThePhoneNumbersLength) {
  // Citus gives a worker's rows ids from 2^48 times its group: 15 digits.
  const std::string key = object_key("recordings/", kOrg, "call_1", 562949953421313, "https://h/r.wav");
  EXPECT_EQ(loggable_key(key), key);
}

TEST(ObjectKey, RedactsPhoneNumbersOutsideTheQueueId) {
  EXPECT_EQ(loggable_key(std::string("p/") + kOrg + "/+14155550123/4155550100.wav"),
            std::string("p/") + kOrg + "/***0123/4155550100.wav");
  EXPECT_EQ(loggable_key("+1 415 555 0123/12.wav"), "***0123/12.wav");
  for (const char* key : {"a/4155550123", "a/4155550123.", "a/+4155550123.wav", "a/4155550123.too-long", "4155550123.wav"})
    EXPECT_EQ(loggable_key(key).find("4155550123"), std::string::npos) << key;
}

}  // namespace
}  // namespace relay
