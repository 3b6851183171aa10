// Connections in service per client address. httplib gives each connection
// one worker thread for its whole life, so a client holding many idle or
// slow connections would hold the workers that /health and other senders
// need: past the limit, a connection from that address is turned away.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace vox {

class ConnectionLimit {
 public:
  // max_per_address 0: no limit. Addresses in `exempt` (the trusted proxies,
  // through which every client comes) are not limited.
  ConnectionLimit(size_t max_per_address, std::vector<std::string> exempt);

  // A connection from `address` while it is alive; false when there was no room.
  class Slot {
   public:
    Slot(ConnectionLimit* owner, std::string address) : owner_(owner), address_(std::move(address)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    ConnectionLimit* owner_;
    std::string address_;
  };
  Slot enter(const std::string& address);

 private:
  const size_t max_;
  const std::vector<std::string> exempt_;
  std::mutex mutex_;
  std::unordered_map<std::string, size_t> open_;
};

}  // namespace vox
