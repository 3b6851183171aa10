#include "connection_limit.hpp"

#include <algorithm>

namespace vox {

ConnectionLimit::ConnectionLimit(size_t max_per_address, std::vector<std::string> exempt)
    : max_(max_per_address), exempt_(std::move(exempt)) {}

ConnectionLimit::Slot ConnectionLimit::enter(const std::string& address) {
  if (max_ == 0 || std::find(exempt_.begin(), exempt_.end(), address) != exempt_.end()) return Slot(this, "");
  std::lock_guard<std::mutex> lock(mutex_);
  size_t& open = open_[address];
  if (open >= max_) return Slot(nullptr, "");
  ++open;
  return Slot(this, address);
}

ConnectionLimit::Slot::~Slot() {
  if (!owner_ || address_.empty()) return;
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  auto found = owner_->open_.find(address_);
  if (--found->second == 0) owner_->open_.erase(found);
}

}  // namespace vox
