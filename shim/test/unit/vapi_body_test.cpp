#include "vapi_body.hpp"

#include <gtest/gtest.h>

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

TEST(VapiResponseBody, TheResponseObjectWhenThereIsOne) {
  const auto outcome = nlohmann::json::parse(
      R"({"status":"ignored","event_type":"tool-calls","response":{"results":[{"toolCallId":"c1","error":"e"}]}})");
  EXPECT_EQ(nlohmann::json::parse(vapi_response_body(outcome, outcome.dump())),
            nlohmann::json::parse(R"({"results":[{"toolCallId":"c1","error":"e"}]})"));
}

TEST(VapiResponseBody, OtherwiseTheAnswerAsItIs) {
  const std::string answer = R"({"status": "processed", "event_type": "status-update"})";
  EXPECT_EQ(vapi_response_body(nlohmann::json::parse(answer), answer), answer);
}

}  // namespace shim
