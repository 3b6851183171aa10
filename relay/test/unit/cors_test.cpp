#include "cors.hpp"

#include <gtest/gtest.h>

namespace relay {

TEST(Cors, OnlyListedOriginsAreAllowed) {
  const Cors cors(" https://app.example.com/, http://localhost:5173 ,,");
  EXPECT_EQ(cors.allow_origin(std::string("https://app.example.com")), "https://app.example.com");
  EXPECT_EQ(cors.allow_origin(std::string("http://localhost:5173")), "http://localhost:5173");
  for (const char* other : {"https://evil.example.com", "http://app.example.com", "https://app.example.com:8443",
                            "https://app.example.com.evil.example", "null", "", "*"})
    EXPECT_EQ(cors.allow_origin(std::string(other)), std::nullopt) << other;
  EXPECT_EQ(cors.allow_origin(std::nullopt), std::nullopt);
}

TEST(Cors, NoListAllowsNoOrigin) {
  const Cors cors("");
  EXPECT_EQ(cors.allow_origin(std::string("https://app.example.com")), std::nullopt);
  EXPECT_EQ(cors.preflight_status(std::string("https://app.example.com")), 403);
}

TEST(Cors, PreflightIsAnsweredForAllowedOriginsOnly) {
  const Cors cors("https://app.example.com");
  EXPECT_EQ(cors.preflight_status(std::string("https://app.example.com")), 204);
  EXPECT_EQ(cors.preflight_status(std::string("https://evil.example.com")), 403);
  EXPECT_EQ(cors.preflight_status(std::nullopt), 403);
}

}  // namespace relay
