// Token buckets keyed by client (an IP, or an IP and a call id). Thread-safe;
// memory is bounded by evicting the least recently used keys.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace shim {

struct TokenBucketConfig {
  double rate_per_second;  // refill rate; 0 disables the limit
  double burst;            // bucket capacity, >= 1
};

struct RateDecision {
  bool allowed;
  int retry_after_seconds;  // when refused: whole seconds until a token is back (>= 1)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(TokenBucketConfig config, size_t max_keys);
  // Takes one token from key's bucket (a new key starts full).
  RateDecision take(const std::string& key, Clock::time_point now);
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
    std::list<std::string>::iterator lru_position;
  };
  TokenBucketConfig config_;
  size_t max_keys_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace shim
