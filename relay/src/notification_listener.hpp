// Wake-ups: a connection of its own LISTENs to vox_outbox (vox notifies it
// with the org id when an event adds outbox rows) and vox_feed_credentials
// (with the org id when a credential changes). The first wakes that org's
// streams, the second the credential checker. Notifications are only hints:
// streams also read every poll interval, so nothing is lost while the
// listener is down (vox.notify = off, PostgreSQL restarting); it reconnects
// with a growing pause, and each (re)connect wakes every stream and the
// checker for what was sent meanwhile.
//
// On a Citus coordinator an event is applied, and notified, on its org's
// worker: the listener also listens on every other node vox.feed_nodes()
// names, with the same connection settings but that node's host and port,
// and looks again every half minute (a worker added).
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "credential_checker.hpp"
#include "stream_hub.hpp"

namespace relay {

class NotificationListener {
 public:
  NotificationListener(std::string conninfo, StreamHub& hub, CredentialChecker& checker);
  ~NotificationListener();  // stops listening (on every node) and joins the threads
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

 private:
  using Node = std::pair<std::string, std::string>;  // host, port
  // Another node's listener.
  NotificationListener(std::string conninfo, StreamHub& hub, CredentialChecker& checker, Node node);

  void run();
  // True when it listened at all (the pause before the next attempt restarts).
  bool listen_until_disconnected();
  void pause(std::chrono::milliseconds how_long);
  // Listens on the nodes vox.feed_nodes() names now, and on no other.
  void follow_nodes(PGconn* conn);

  const std::string conninfo_;
  StreamHub& hub_;
  CredentialChecker& checker_;
  const std::optional<Node> node_;  // set on another node's listener
  std::map<Node, std::unique_ptr<NotificationListener>> others_;  // this thread's only
  std::chrono::steady_clock::time_point nodes_due_{};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace relay
