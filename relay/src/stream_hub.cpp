#include "stream_hub.hpp"

#include <algorithm>

namespace relay {

bool Subscription::wait_until(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, until, [this] { return woken_ || ended_; });
  const bool woken = woken_;
  woken_ = false;
  return woken;
}

std::optional<StreamEnd> Subscription::ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

void Subscription::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  changed_.notify_all();
}

void Subscription::end(StreamEnd why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ended_) ended_ = why;
  }
  changed_.notify_all();
}

StreamHub::Opened StreamHub::open(const std::string& org_id, int64_t credential_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shutting_down_) return {nullptr, Admission::kTooManyInAll};
  const Admission admission = limits_.admit(org_id);
  if (admission != Admission::kAdmitted) return {nullptr, admission};
  auto* stream = new Subscription(org_id, credential_id, next_id_++);
  streams_.push_back(stream);
  return {Handle(stream, [this](Subscription* s) { release(s); }), admission};
}

void StreamHub::release(Subscription* stream) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    streams_.erase(std::find(streams_.begin(), streams_.end(), stream));
    limits_.release(stream->org_id);
  }
  delete stream;
}

void StreamHub::wake_org(const std::string& org_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Subscription* stream : streams_)
    if (stream->org_id == org_id) stream->wake();
}

void StreamHub::wake_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Subscription* stream : streams_) stream->wake();
}

std::vector<int64_t> StreamHub::credential_ids() const {
  std::set<int64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Subscription* stream : streams_) ids.insert(stream->credential_id);
  }
  return {ids.begin(), ids.end()};
}

size_t StreamHub::end_revoked(const std::set<int64_t>& revoked) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t ended = 0;
  for (Subscription* stream : streams_) {
    if (!revoked.count(stream->credential_id) || stream->ended()) continue;
    stream->end(StreamEnd::kRevoked);
    ++ended;
  }
  return ended;
}

void StreamHub::shut_down() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutting_down_ = true;
  for (Subscription* stream : streams_) stream->end(StreamEnd::kShutdown);
}

size_t StreamHub::open_streams() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limits_.open();
}

}  // namespace relay
