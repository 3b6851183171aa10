#include "phone.hpp"

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <unordered_map>

namespace vox {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

const PhoneNumberUtil& phone_util() {
  // libphonenumber logs parse failures with the number in them; a backend log
  // must never hold a full phone number, so silence it once.
  static PhoneNumberUtil* util = [] {
    PhoneNumberUtil* instance = PhoneNumberUtil::GetInstance();
    instance->SetLogger(new i18n::phonenumbers::NullLogger());
    return instance;
  }();
  return *util;
}

std::optional<std::string> parse_e164(const std::string& raw, const std::string& region) {
  const PhoneNumberUtil& util = phone_util();
  PhoneNumber number;
  if (util.Parse(raw, region, &number) != PhoneNumberUtil::NO_PARSING_ERROR) return std::nullopt;
  // "Possible" (right length for the region) rather than "valid" (assigned
  // range): stale metadata must never turn a real caller into an unknown one.
  if (!util.IsPossibleNumber(number)) return std::nullopt;
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  // E.164 allows 15 digits; libphonenumber's "possible" can allow more.
  if (e164.size() > 16) return std::nullopt;
  return e164;
}

// Every event of a call carries the caller's number, and parsing it was the
// largest single cost of a status update: each backend remembers its recent
// answers. Only short inputs are kept (a written-out number is shorter), and
// the cache is emptied when full, so it stays a few kilobytes whatever the
// input.
constexpr size_t kCacheEntries = 512;
constexpr size_t kLongestCachedInput = 40;

}  // namespace

std::optional<std::string> to_e164(const std::string& raw, const std::string& region) {
  if (raw.size() > kLongestCachedInput) return parse_e164(raw, region);
  static std::unordered_map<std::string, std::optional<std::string>> cache;
  std::string key = region + '\n' + raw;
  if (auto hit = cache.find(key); hit != cache.end()) return hit->second;
  if (cache.size() >= kCacheEntries) cache.clear();
  std::optional<std::string> e164 = parse_e164(raw, region);
  cache.emplace(std::move(key), e164);
  return e164;
}

}  // namespace vox
