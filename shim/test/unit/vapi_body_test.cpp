#include "vapi_body.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace shim {

TEST(RepairJsonEscapes, NulAndLoneSurrogatesBecomeReplacementCharacters) {
  std::string body = R"({"message":{"transcript":"a\u0000b \ud83d c \ude00 d","x":"\uD83D"}})";
  EXPECT_EQ(repair_json_escapes(body), 4);
  EXPECT_EQ(body, R"({"message":{"transcript":"a\ufffdb \ufffd c \ufffd d","x":"\ufffd"}})");
}

TEST(RepairJsonEscapes, ValidEscapesAreLeftAlone) {
  const std::string valid = R"({"t":"\ud83d\ude00 \u00e9 \\u0000 \\\ud83d\ude00 \n \" \/"})";
  std::string body = valid;
  EXPECT_EQ(repair_json_escapes(body), 0);
  EXPECT_EQ(body, valid);
}

TEST(RepairJsonEscapes, AHighSurrogateBeforeAnotherHighOneIsLone) {
  std::string body = R"(["\ud83d\ud83d\ude00"])";
  EXPECT_EQ(repair_json_escapes(body), 1);
  EXPECT_EQ(body, R"(["\ufffd\ud83d\ude00"])");
}

TEST(RepairJsonEscapes, ATruncatedEscapeIsLeftToTheParser) {
  std::string body = R"(["\u00)";
  EXPECT_EQ(repair_json_escapes(body), 0);
  EXPECT_EQ(body, R"(["\u00)");
}

// What a parsed document says of the message's type and call id: the reading
// read_vapi_event must agree with.
VapiEvent from_document(const std::string& body) {
  const nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  VapiEvent event;
  event.json = !document.is_discarded();
  event.object = document.is_object();
  if (!event.object) return event;
  const nlohmann::json& message =
      document.contains("message") && document["message"].is_object() ? document["message"] : document;
  if (message.contains("type") && message["type"].is_string()) event.type = message["type"];
  if (message.contains("call") && message["call"].is_object() && message["call"].contains("id") &&
      message["call"]["id"].is_string())
    event.call_id = message["call"]["id"];
  return event;
}

TEST(ReadVapiEvent, ReadsAsAParsedDocumentDoes) {
  const std::vector<std::string> bodies = {
      R"({"message":{"type":"status-update","call":{"id":"c1"},"status":"ended"}})",
      R"({"type":"end-of-call-report","call":{"id":"c2"}})",
      R"({"message":"text","type":"flat","call":{"id":"c3"}})",
      R"({"message":{"type":7,"call":{"id":["c4"]}}})",
      R"({"message":{"call":"c5","type":null}})",
      R"({"message":{"type":"first","call":{"id":"x"}},"message":{"type":"second"}})",
      R"({"message":{"call":{"id":"x"},"call":{"id":5}}})",
      R"({"message":{"call":{"id":"x","id":"y"},"type":"a","type":"b"}})",
      R"({"message":{"items":[{"type":"in-array","call":{"id":"z"}}],"artifact":{"type":"nested"}}})",
      R"({"type":"top","message":{"call":{"id":"c6"}},"message":[1]})",
      R"({"a":{"b":{"c":[{"message":{"type":"deep"}}]}},"message":{"type":"t","call":{"id":"é"}}})",
      R"([{"message":{"type":"t"}}])",
      R"("text")",
      R"(17)",
      R"({"message":{"type":"t"}} trailing)",
      R"({"message":{"type":"t","n":1e999}})",
      R"({"message":{"type":"t")",
      R"(not json)",
      "",
  };
  for (const std::string& body : bodies) {
    const VapiEvent expected = from_document(body), read = read_vapi_event(body);
    EXPECT_EQ(read.json, expected.json) << body;
    EXPECT_EQ(read.object, expected.object) << body;
    EXPECT_EQ(read.type, expected.type) << body;
    EXPECT_EQ(read.call_id, expected.call_id) << body;
  }
  EXPECT_EQ(read_vapi_event(R"({"message":{"type":"first"},"message":{"type":"second"}})").type, "second");
  EXPECT_FALSE(read_vapi_event(R"({"message":{"call":{"id":"x"}},"message":{}})").call_id);
  EXPECT_FALSE(read_vapi_event(R"({"n":1e999})").json);  // PostgreSQL takes it; nlohmann does not
}

TEST(ReadDatabaseAnswer, TheResponseObjectWhenThereIsOne) {
  const std::string answer =
      R"({"status":"ignored","event_type":"tool-calls","response":{"results":[{"toolCallId":"c1","error":"e"}]}})";
  const DatabaseAnswer read = read_database_answer(answer);
  EXPECT_EQ(nlohmann::json::parse(read.body), nlohmann::json::parse(R"({"results":[{"toolCallId":"c1","error":"e"}]})"));
  EXPECT_EQ(read.status, "ignored");
}

TEST(ReadDatabaseAnswer, OtherwiseTheAnswerAsItIs) {
  const std::string answer = R"({"status": "processed", "event_type": "status-update", "org_id": "o1"})";
  const DatabaseAnswer read = read_database_answer(answer);
  EXPECT_EQ(read.body, answer);
  EXPECT_EQ(read.status, "processed");
  EXPECT_EQ(read.org_id, "o1");
  EXPECT_EQ(read_database_answer(R"({"response":"text"})").body, R"({"response":"text"})");
}

TEST(ReadDatabaseAnswer, OnlyStringsAreAStatusOrAnOrg) {
  EXPECT_EQ(read_database_answer(R"({"status":1,"org_id":null})").status, "");
  EXPECT_EQ(read_database_answer(R"({"status":"a","status":2})").status, "");
  EXPECT_EQ(read_database_answer("not json").body, "not json");
  EXPECT_EQ(read_database_answer(R"([{"status":"a"}])").status, "");
}

}  // namespace shim
