#include "credentials.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace relay {

namespace {

const std::string kToken = "vxf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";

}  // namespace

TEST(Credentials, OrgIdsAreUuidsInOneSpelling) {
  EXPECT_EQ(canonical_org_id("8D1F6A3E-2B7C-4E59-9A40-5C6D7E8F9012"), "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012");
  EXPECT_EQ(canonical_org_id("8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012"), "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012");
  for (const char* bad : {"", "acme", "8d1f6a3e2b7c4e599a405c6d7e8f9012", "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f901",
                          "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012 ", "{8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012}",
                          "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f901g"})
    EXPECT_EQ(canonical_org_id(bad), std::nullopt) << bad;
}

TEST(Credentials, TokenFromTheQuery) {
  EXPECT_EQ(credential_token(std::nullopt, kToken), kToken);
  EXPECT_EQ(credential_token(std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(credential_token(std::nullopt, std::string()), std::nullopt);
}

TEST(Credentials, TokenFromABearerHeaderWhichWins) {
  EXPECT_EQ(credential_token("Bearer " + kToken, std::nullopt), kToken);
  EXPECT_EQ(credential_token("bearer  " + kToken + " ", std::nullopt), kToken);
  EXPECT_EQ(credential_token("Bearer " + kToken, std::string("vxf_other")), kToken);
}

TEST(Credentials, AnAuthorizationHeaderOfAnotherSchemeIsNoCredential) {
  // Not the query's either: a request that sends a header means it.
  EXPECT_EQ(credential_token("Basic dXNlcjpwYXNz", kToken), std::nullopt);
  EXPECT_EQ(credential_token("Bearer", kToken), std::nullopt);
  EXPECT_EQ(credential_token("Bearer ", std::nullopt), std::nullopt);
  EXPECT_EQ(credential_token(kToken, std::nullopt), std::nullopt);
}

TEST(Credentials, WhatCannotBeATokenIsRefusedUnasked) {
  for (const std::string& bad :
       std::vector<std::string>{"vxf_a b", "vxf_a/b", "vxf_a+b", "vxf_a=", "vxf_\xc3\xa9", std::string(129, 'a')}) {
    EXPECT_EQ(credential_token(std::nullopt, bad), std::nullopt) << bad;
    EXPECT_EQ(credential_token("Bearer " + bad, std::nullopt), std::nullopt) << bad;
  }
  EXPECT_EQ(credential_token(std::nullopt, std::string(128, 'a')), std::string(128, 'a'));
}

TEST(Credentials, ResumePointFromTheHeaderElseTheQuery) {
  const std::string cursor = "1/5/100:104:101,102/100:105:/7";
  EXPECT_EQ(resume_point(cursor, std::nullopt), cursor);
  EXPECT_EQ(resume_point(std::nullopt, cursor), cursor);
  EXPECT_EQ(resume_point(cursor, std::string("other")), cursor);
  EXPECT_EQ(resume_point(std::string(), cursor), cursor);
  EXPECT_EQ(resume_point(std::string(), std::string()), std::nullopt);
  EXPECT_EQ(resume_point(std::nullopt, std::nullopt), std::nullopt);
}

}  // namespace relay
