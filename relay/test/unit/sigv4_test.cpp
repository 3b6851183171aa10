// AWS's published Signature Version 4 examples: the IAM request of the
// general reference, and the S3 GET and presigned URL of S3's API reference.
#include "sigv4.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "digest.hpp"

namespace relay {
namespace {

constexpr std::time_t k20150830T123600Z = 1440938160;
constexpr std::time_t k20130524T000000Z = 1369353600;
const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(SigV4, AmzDate) {
  EXPECT_EQ(amz_date(k20150830T123600Z), "20150830T123600Z");
  EXPECT_EQ(amz_date(k20130524T000000Z), "20130524T000000Z");
}

TEST(SigV4, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(uri_encode("a-b_c.d~e/f g+h*", false), "a-b_c.d~e/f%20g%2Bh%2A");
  EXPECT_EQ(uri_encode("a/b=", true), "a%2Fb%3D");
  EXPECT_EQ(uri_encode("\xc3\xa9", true), "%C3%A9");
}

TEST(SigV4, CanonicalQuerySortsEncodedPairs) {
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"partNumber", "2"}, {"uploadId", "a/b"}}), "partNumber=2&uploadId=a%2Fb");
}

// The general reference's example: IAM ListUsers.
TEST(SigV4, IamListUsersExample) {
  const AwsCredentials credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  const SigningScope scope{"us-east-1", "iam"};
  const SigningInput input{"GET",
                           "/",
                           {{"Version", "2010-05-08"}, {"Action", "ListUsers"}},
                           {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                            {"host", "iam.amazonaws.com"},
                            {"x-amz-date", "20150830T123600Z"}},
                           kEmptySha256};
  EXPECT_EQ(vox::to_hex(vox::sha256(canonical_request(input))), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(authorization(credentials, scope, "20150830T123600Z", input),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

const AwsCredentials kS3Credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};

// S3's "GET Object" example.
TEST(SigV4, S3GetObjectExample) {
  const NameValues headers = sign_s3_request(kS3Credentials, SigningScope{"us-east-1"}, k20130524T000000Z, "GET",
                                             "examplebucket.s3.amazonaws.com", "/test.txt", {},
                                             {{"range", "bytes=0-9"}}, kEmptySha256);
  ASSERT_EQ(headers.back().first, "authorization");
  EXPECT_EQ(headers.back().second,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// S3's presigned URL example.
TEST(SigV4, S3PresignedUrlExample) {
  EXPECT_EQ(presign_query(kS3Credentials, SigningScope{"us-east-1"}, k20130524T000000Z,
                          "examplebucket.s3.amazonaws.com", "/test.txt", 86400),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            "&X-Amz-SignedHeaders=host");
}

TEST(SigV4, SessionTokenIsSentAndSigned) {
  AwsCredentials credentials = kS3Credentials;
  credentials.session_token = "token/with+chars";
  const NameValues headers = sign_s3_request(credentials, SigningScope{"us-east-1"}, k20130524T000000Z, "PUT",
                                             "s3.example", "/b/k", {}, {}, kEmptySha256);
  EXPECT_NE(std::find(headers.begin(), headers.end(),
                      std::pair<std::string, std::string>{"x-amz-security-token", "token/with+chars"}),
            headers.end());
  EXPECT_NE(headers.back().second.find("x-amz-date;x-amz-security-token"), std::string::npos);
  EXPECT_NE(presign_query(credentials, SigningScope{"us-east-1"}, k20130524T000000Z, "s3.example", "/b/k", 60)
                .find("X-Amz-Security-Token=token%2Fwith%2Bchars"),
            std::string::npos);
}

}  // namespace
}  // namespace relay
