// The HTTP surface: POST /webhooks/vapi[/{org_id}], GET /health, GET /metrics.
// A webhook goes through body (size, encoding, content type) → rate limit per
// IP → authentication → rate limit per IP and call → one vox.handle_event
// call, and is answered 2xx only after that call committed.
#pragma once

#include <functional>
#include <vector>

#include <httplib.h>

#include "auth.hpp"
#include "config.hpp"
#include "db_calls.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "rate_limit.hpp"
#include "secret_listener.hpp"
#include "secrets.hpp"

namespace shim {

class Server {
 public:
  Server(const Config& config, std::vector<Secret> shim_secrets);
  // Serves until stop(); returns false if it could not listen.
  bool run();
  // Stops accepting; requests in flight finish before run() returns.
  void stop();

 private:
  void webhook(const httplib::Request& request, httplib::Response& response, const httplib::ContentReader& content,
               const std::optional<std::string>& org);
  void health(httplib::Response& response);
  enum class Body { kComplete, kTooLarge, kIncomplete };
  // The request's body into `body`, up to the limit.
  Body read_body(const httplib::Request& request, const httplib::ContentReader& content, httplib::Response& response,
                 std::string& body);
  // Runs operation on a pooled connection, again (10, 20, 40 ms later) after
  // a failure worth retrying, up to retries times. No free connection within
  // pool_wait: 53300.
  DbResult with_connection(const std::function<DbResult(DbConnection&)>& operation, std::chrono::milliseconds pool_wait,
                           int retries);
  bool rate_limited(const std::string& key, RateLimiter& limiter, const char* scope, httplib::Response& response);
  std::optional<std::vector<Secret>> fetch_org_secrets(const std::string& org_id);
  void respond_error(httplib::Response& response, int status, const std::string& error,
                     const std::string& sqlstate = "");

  const Config& config_;
  const std::vector<Secret> shim_secrets_;
  Metrics metrics_;
  vox::DbPool pool_;
  OrgSecretCache org_secrets_;
  SecretListener secret_listener_;  // after org_secrets_: it drops that cache's entries
  RateLimiter per_ip_, per_call_;
  const std::vector<std::string> trusted_proxies_;
  vox::HttpServer http_;  // last: its workers use everything above
};

}  // namespace shim
