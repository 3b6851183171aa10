// Revocation within a second: a connection of its own LISTENs to
// vox_webhook_secrets, which vox notifies with the org id when a change to
// that org's webhook secrets commits, and each notification drops the org's
// cached secrets. While the listener is not connected the cache's own expiry
// (--secret-cache-s) is the bound; each (re)connect drops the whole cache,
// since notifications sent meanwhile are lost.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "secrets.hpp"

namespace shim {

class SecretListener {
 public:
  SecretListener(std::string conninfo, int connect_timeout_s, OrgSecretCache& cache);
  ~SecretListener();  // stops listening and joins the thread
  SecretListener(const SecretListener&) = delete;
  SecretListener& operator=(const SecretListener&) = delete;

 private:
  void run();
  void listen_until_disconnected();

  const std::string conninfo_;
  const int connect_timeout_s_;
  OrgSecretCache& cache_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace shim
