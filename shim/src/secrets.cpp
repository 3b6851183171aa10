#include "secrets.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <strings.h>
#include <stdexcept>

namespace shim {

std::vector<Secret> load_secrets_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("secrets file " + path + ": cannot be read");
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json list = nlohmann::json::parse(text.str(), nullptr, false);
  if (!list.is_array()) throw std::runtime_error("secrets file " + path + ": expected a JSON array");
  std::vector<Secret> secrets;
  for (size_t i = 0; i < list.size(); ++i) {
    try {
      secrets.push_back(parse_secret(list[i]));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("secrets file " + path + ", entry " + std::to_string(i) + ": " + e.what());
    }
  }
  return secrets;
}

std::vector<Secret> parse_secret_list(const std::string& json,
                                      const std::function<void(size_t, const std::string&)>& skipped) {
  std::vector<Secret> secrets;
  nlohmann::json list = nlohmann::json::parse(json, nullptr, false);
  if (!list.is_array()) {
    skipped(0, "vox.webhook_secrets_for() did not return a JSON array");
    return secrets;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    try {
      secrets.push_back(parse_secret(list[i]));
    } catch (const std::invalid_argument& e) {
      skipped(i, e.what());
    }
  }
  return secrets;
}

OrgSecretCache::OrgSecretCache(Fetch fetch, std::chrono::seconds ttl, size_t max_orgs)
    : fetch_(std::move(fetch)), ttl_(ttl), max_orgs_(max_orgs) {}

const OrgSecretCache::Entry* OrgSecretCache::find(const std::string& org_id) const {
  for (const Entries* entries : {&with_secrets_, &without_secrets_}) {
    auto found = entries->find(org_id);
    if (found != entries->end()) return &found->second;
  }
  return nullptr;
}

std::optional<SecretList> OrgSecretCache::get(const std::string& org_id, Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* found = find(org_id);
    if (found && now - found->fetched < ttl_) return found->secrets;
  }
  return fetch(org_id, now);
}

std::optional<SecretList> OrgSecretCache::refresh(const std::string& org_id, Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* found = find(org_id);
    if (found && now - found->fetched < std::chrono::seconds(1)) return found->secrets;
  }
  return fetch(org_id, now);
}

void OrgSecretCache::forget(const std::string& org_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
  for (Entries* entries : {&with_secrets_, &without_secrets_})
    for (auto it = entries->begin(); it != entries->end();)
      it = strcasecmp(it->first.c_str(), org_id.c_str()) == 0 ? entries->erase(it) : std::next(it);
}

void OrgSecretCache::forget_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++generation_;
  with_secrets_.clear();
  without_secrets_.clear();
}

std::optional<SecretList> OrgSecretCache::fetch(const std::string& org_id, Clock::time_point now) {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = generation_;
  }
  std::optional<std::vector<Secret>> fetched = fetch_(org_id);  // outside the lock: a database round trip
  if (!fetched) return std::nullopt;
  SecretList secrets = std::make_shared<const std::vector<Secret>>(std::move(*fetched));
  std::lock_guard<std::mutex> lock(mutex_);
  // A change committed while this lookup ran: what it read may be older.
  if (generation != generation_) return secrets;
  Entries& entries = secrets->empty() ? without_secrets_ : with_secrets_;
  (secrets->empty() ? with_secrets_ : without_secrets_).erase(org_id);
  if (entries.size() >= max_orgs_ && entries.find(org_id) == entries.end()) {
    for (auto it = entries.begin(); it != entries.end();)
      it = now - it->second.fetched >= ttl_ ? entries.erase(it) : std::next(it);
    if (entries.size() >= max_orgs_) {  // all fresh: the oldest goes
      auto oldest = std::min_element(entries.begin(), entries.end(),
                                     [](const auto& a, const auto& b) { return a.second.fetched < b.second.fetched; });
      entries.erase(oldest);
    }
  }
  entries[org_id] = Entry{secrets, now};
  return secrets;
}

}  // namespace shim
