// Where a request's secrets come from: the shim's own for POST /webhooks/vapi,
// and each org's from vox for POST /webhooks/vapi/{org_id}, cached for a
// bounded time. A signature no cached secret accepts triggers one fresh
// lookup (at most once a second per org), so a rotated secret works at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth.hpp"

namespace shim {

using SecretList = std::shared_ptr<const std::vector<Secret>>;

// Reads the secrets file: a JSON array of parse_secret() objects. Throws
// std::runtime_error naming the file and the entry (never a secret).
std::vector<Secret> load_secrets_file(const std::string& path);

// Parses vox.webhook_secrets_for()'s JSON array; an entry the shim cannot use
// is left out and reported through skipped(index, why).
std::vector<Secret> parse_secret_list(const std::string& json,
                                      const std::function<void(size_t, const std::string&)>& skipped);

class OrgSecretCache {
 public:
  using Clock = std::chrono::steady_clock;
  // Returns the org's secrets, or nothing when the database could not say.
  using Fetch = std::function<std::optional<std::vector<Secret>>(const std::string& org_id)>;

  // At most max_orgs orgs with secrets and as many without (unknown org ids
  // among them), apart so that made-up ids cannot evict real orgs: expired
  // entries, then the oldest, make room. Keys are org ids as given: callers
  // canonicalise them.
  OrgSecretCache(Fetch fetch, std::chrono::seconds ttl, size_t max_orgs = 10000);

  // The cached secrets when fresh, else fetched. Nothing: fetching failed.
  std::optional<SecretList> get(const std::string& org_id, Clock::time_point now);
  // Fetched again unless the cached entry is under a second old (then the
  // cached one): for a signature the cached secrets refused.
  std::optional<SecretList> refresh(const std::string& org_id, Clock::time_point now);
  // Drops the org's cached secrets (a change to them committed; the org id in
  // any case), or every org's: the next request looks them up again. A lookup
  // already under way when they are dropped is not cached.
  void forget(const std::string& org_id);
  void forget_all();

 private:
  struct Entry {
    SecretList secrets;
    Clock::time_point fetched;
  };
  using Entries = std::unordered_map<std::string, Entry>;
  std::optional<SecretList> fetch(const std::string& org_id, Clock::time_point now);
  // The org's entry in either map, or nullptr. Under mutex_.
  const Entry* find(const std::string& org_id) const;

  Fetch fetch_;
  std::chrono::seconds ttl_;
  size_t max_orgs_;
  std::mutex mutex_;
  Entries with_secrets_, without_secrets_;
  uint64_t generation_ = 0;  // counts forget() calls, so a lookup can tell it raced one
};

}  // namespace shim
