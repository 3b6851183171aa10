#include "rate_limit.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

namespace shim {

// With room for no key at all, every request would meet a fresh, full bucket.
RateLimiter::RateLimiter(TokenBucketConfig config, size_t max_keys)
    : config_(config), max_keys_(std::max<size_t>(max_keys, 1)) {}

RateDecision RateLimiter::take(const std::string& key, Clock::time_point now) {
  if (config_.rate_per_second <= 0) return {true, 0};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      buckets_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = buckets_.emplace(key, Bucket{config_.burst, now, lru_.begin()}).first;
  } else {
    // splice keeps the iterator stored in the bucket valid.
    lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    Bucket& existing = it->second;
    // Threads read the clock before taking the lock, so now can be slightly
    // behind updated; time never runs backwards for a bucket.
    if (now > existing.updated) {
      const double elapsed = std::chrono::duration<double>(now - existing.updated).count();
      existing.tokens = std::min(config_.burst, existing.tokens + elapsed * config_.rate_per_second);
      existing.updated = now;
    }
  }
  Bucket& bucket = it->second;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return {true, 0};
  }
  const double wait = std::ceil((1 - bucket.tokens) / config_.rate_per_second);
  // A tiny rate would otherwise overflow int.
  return {false, static_cast<int>(std::clamp(wait, 1.0, static_cast<double>(INT_MAX)))};
}

size_t RateLimiter::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buckets_.size();
}

}  // namespace shim
