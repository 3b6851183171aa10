#include "secrets.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace shim {

namespace {

using namespace std::chrono_literals;
using Clock = OrgSecretCache::Clock;

Secret shared(const std::string& value) {
  Secret secret;
  secret.scheme = Scheme::kSharedSecret;
  secret.secret = value;
  return secret;
}

// A database stand-in: counts lookups and answers with what the test set.
struct FakeVox {
  int lookups = 0;
  bool down = false;
  std::vector<Secret> secrets = {shared("first")};
  OrgSecretCache::Fetch fetch() {
    return [this](const std::string&) -> std::optional<std::vector<Secret>> {
      ++lookups;
      if (down) return std::nullopt;
      return secrets;
    };
  }
};

}  // namespace

TEST(OrgSecretCache, ServesFromCacheUntilTheTtl) {
  FakeVox vox;
  OrgSecretCache cache(vox.fetch(), 60s);
  const Clock::time_point t0;
  ASSERT_EQ((**cache.get("org", t0))[0].secret, "first");
  vox.secrets = {shared("second")};
  EXPECT_EQ((**cache.get("org", t0 + 59s))[0].secret, "first");
  EXPECT_EQ(vox.lookups, 1);
  EXPECT_EQ((**cache.get("org", t0 + 60s))[0].secret, "second");
  EXPECT_EQ(vox.lookups, 2);
}

TEST(OrgSecretCache, ForgetDropsOneOrgInAnyCaseAndForgetAllEveryOrg) {
  FakeVox vox;
  OrgSecretCache cache(vox.fetch(), 60s);
  const Clock::time_point t0;
  cache.get("8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f90aa", t0);
  cache.get("other", t0);
  vox.secrets = {shared("revoked")};
  cache.forget("8D1F6A3E-2B7C-4E59-9A40-5C6D7E8F90AA");
  EXPECT_EQ((**cache.get("8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f90aa", t0 + 1ms))[0].secret, "revoked");
  EXPECT_EQ((**cache.get("other", t0 + 1ms))[0].secret, "first");
  EXPECT_EQ(vox.lookups, 3);
  cache.forget_all();
  EXPECT_EQ((**cache.get("other", t0 + 2ms))[0].secret, "revoked");
  EXPECT_EQ(vox.lookups, 4);
}

TEST(OrgSecretCache, ALookupThatRacedAForgetIsNotCached) {
  int lookups = 0;
  OrgSecretCache* cache_ptr = nullptr;
  OrgSecretCache cache(
      [&](const std::string& org) -> std::optional<std::vector<Secret>> {
        if (++lookups == 1) cache_ptr->forget(org);  // the revocation commits while the old list is read
        return std::vector<Secret>{shared("read before the change")};
      },
      60s);
  cache_ptr = &cache;
  const Clock::time_point t0;
  cache.get("org", t0);
  cache.get("org", t0 + 1ms);
  EXPECT_EQ(lookups, 2);
}

TEST(OrgSecretCache, RefreshLooksUpAgainAtMostOnceASecond) {
  FakeVox vox;
  OrgSecretCache cache(vox.fetch(), 60s);
  const Clock::time_point t0;
  cache.get("org", t0);
  vox.secrets = {shared("rotated")};
  EXPECT_EQ((**cache.refresh("org", t0 + 500ms))[0].secret, "first");
  EXPECT_EQ((**cache.refresh("org", t0 + 1s))[0].secret, "rotated");
  EXPECT_EQ((**cache.get("org", t0 + 2s))[0].secret, "rotated");  // the refreshed entry is cached
  EXPECT_EQ(vox.lookups, 2);
}

TEST(OrgSecretCache, AFailedLookupIsNotCached) {
  FakeVox vox;
  vox.down = true;
  OrgSecretCache cache(vox.fetch(), 60s);
  EXPECT_FALSE(cache.get("org", Clock::time_point{}));
  vox.down = false;
  EXPECT_TRUE(cache.get("org", Clock::time_point{} + 1ms));
  EXPECT_EQ(vox.lookups, 2);
}

TEST(OrgSecretCache, OrgsAreCachedSeparatelyAndBounded) {
  FakeVox vox;
  OrgSecretCache cache(vox.fetch(), 60s, 2);
  const Clock::time_point t0;
  cache.get("a", t0);
  cache.get("b", t0 + 1s);
  cache.get("a", t0 + 1s);
  EXPECT_EQ(vox.lookups, 2);
  cache.get("c", t0 + 2s);  // over the bound: the oldest, a, makes room
  cache.get("b", t0 + 2s);
  cache.get("c", t0 + 2s);
  EXPECT_EQ(vox.lookups, 3);
  cache.get("a", t0 + 3s);  // looked up again; now b is the oldest and goes
  cache.get("c", t0 + 3s);
  EXPECT_EQ(vox.lookups, 4);
  cache.get("b", t0 + 3s);
  EXPECT_EQ(vox.lookups, 5);
}

TEST(OrgSecretCache, OrgsWithoutSecretsAreCachedApartAndEvictNoRealOrg) {
  FakeVox vox;
  OrgSecretCache cache(vox.fetch(), 60s, 2);
  const Clock::time_point t0;
  cache.get("real", t0);
  vox.secrets = {};
  for (const char* unknown : {"u1", "u2", "u3", "u4"}) cache.get(unknown, t0 + 1s);
  EXPECT_EQ(vox.lookups, 5);
  EXPECT_TRUE((*cache.get("u4", t0 + 2s))->empty());  // the "no secrets" answer is cached too
  EXPECT_EQ((**cache.get("real", t0 + 2s))[0].secret, "first");
  EXPECT_EQ(vox.lookups, 5);
}

TEST(SecretList, SkipsUnusableEntriesAndSaysWhich) {
  std::vector<size_t> skipped;
  const std::vector<Secret> secrets = parse_secret_list(
      R"([{"scheme": "shared", "secret": "s1"}, {"scheme": "carrier-pigeon", "secret": "s2"},
          {"scheme": "hmac", "secret": "k", "algorithm": "sha256"}])",
      [&](size_t index, const std::string&) { skipped.push_back(index); });
  ASSERT_EQ(secrets.size(), 2u);
  EXPECT_EQ(secrets[0].scheme, Scheme::kSharedSecret);
  EXPECT_EQ(secrets[1].scheme, Scheme::kHmac);
  EXPECT_EQ(skipped, std::vector<size_t>{1});
  parse_secret_list("{}", [&](size_t, const std::string&) { skipped.push_back(99); });
  EXPECT_EQ(skipped.back(), 99u);
}

TEST(SecretsFile, ErrorsNameTheEntryButNeverTheSecret) {
  const std::string path = testing::TempDir() + "vox-shim-secrets.json";
  {
    std::ofstream file(path);
    file << R"([{"scheme": "shared", "secret": "fine"}, {"scheme": "hmac", "secret": "hunter2", "algorithm": "md5"}])";
  }
  try {
    load_secrets_file(path);
    FAIL() << "an md5 secret was accepted";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("entry 1"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
  {
    std::ofstream file(path);
    file << R"([{"scheme": "standard-webhooks", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}])";
  }
  EXPECT_EQ(load_secrets_file(path).at(0).scheme, Scheme::kStandardWebhooks);
  std::remove(path.c_str());
  EXPECT_THROW(load_secrets_file(path), std::runtime_error);
}

}  // namespace shim
