// Wake-ups: a connection of its own LISTENs to vox_outbox (vox notifies it
// with the org id when an event adds outbox rows) and vox_feed_credentials
// (with the org id when a credential changes). The first wakes that org's
// streams, the second the credential checker. Notifications are only hints:
// streams also read every poll interval, so nothing is lost while the
// listener is down (vox.notify = off, PostgreSQL restarting); it reconnects
// with a growing pause, and each (re)connect wakes every stream and the
// checker for what was sent meanwhile.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "credential_checker.hpp"
#include "stream_hub.hpp"

namespace relay {

class NotificationListener {
 public:
  NotificationListener(std::string conninfo, StreamHub& hub, CredentialChecker& checker);
  ~NotificationListener();  // stops listening and joins the thread
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

 private:
  void run();
  // True when it listened at all (the pause before the next attempt restarts).
  bool listen_until_disconnected();
  void pause(std::chrono::milliseconds how_long);

  const std::string conninfo_;
  StreamHub& hub_;
  CredentialChecker& checker_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace relay
