#include "server.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <thread>

#include "client_ip.hpp"
#include "digest.hpp"
#include "error_map.hpp"
#include "http_server.hpp"
#include "json_depth.hpp"
#include "log.hpp"
#include "request_framing.hpp"
#include "vapi_body.hpp"

namespace shim {

using vox::asks_to_close;
using vox::close_after;
using vox::ConnectionSettings;
using vox::FramingProblem;
using vox::framing_problem;
using vox::HeadLimits;
using vox::log;

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// What one request did, filled in as it goes and written out, with metrics,
// by the server's logger once the response is sent. The logger runs on the
// request's worker thread, also for responses sent before any route ran
// (413, 404), so the record lives in a thread-local.
struct RequestRecord {
  Clock::time_point start;
  std::string request_id;
  std::string org_id, event_type, call_id, outcome, sqlstate, error;
  bool body_unread = false;  // JSON the shim could not parse, passed on to the database
};
thread_local RequestRecord current;

std::string new_request_id() {
  constexpr size_t kIdBytes = 8;
  // Each RAND_bytes call costs about as much as the rest of the request's
  // bookkeeping: a worker draws the bytes of many ids at once.
  thread_local unsigned char drawn[64 * kIdBytes];
  thread_local size_t used = sizeof drawn;
  if (used == sizeof drawn) {
    if (RAND_bytes(drawn, sizeof drawn) != 1) throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(drawn + used), kIdBytes);
  used += kIdBytes;
  return vox::to_hex(bytes);
}

// The request id of the response being made (a new one for a new request),
// in its X-Request-Id header; the clock of its latency starts here.
void identify(httplib::Response& response) {
  if (current.request_id.empty()) {
    current.start = Clock::now();
    current.request_id = new_request_id();
  }
  if (!response.has_header("X-Request-Id")) response.set_header("X-Request-Id", current.request_id);
}

bool is_json_content_type(const std::string& header) {
  std::string media = header.substr(0, header.find(';'));
  media.erase(media.find_last_not_of(" \t") + 1);
  media.erase(0, media.find_first_not_of(" \t"));
  for (char& c : media) c = char(std::tolower(static_cast<unsigned char>(c)));
  return media == "application/json";
}

// vox refuses longer call ids; before that, one would be a rate-limit key
// and a log field of any size.
constexpr size_t kMaxCallIdBytes = 128;
// Vapi's types are short words: a longer one is not logged.
constexpr size_t kMaxEventTypeBytes = 64;

// The message's type and call id, for logs and the per-call rate limit; the
// database decides everything else. False when the call id is too long to be
// used.
bool note_event(const VapiEvent& event) {
  current.body_unread = !event.json;
  if (event.type && event.type->size() <= kMaxEventTypeBytes) current.event_type = *event.type;
  if (event.call_id) {
    if (event.call_id->size() > kMaxCallIdBytes) return false;
    current.call_id = *event.call_id;
  }
  return true;
}

std::string lowercase(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The route label of logs and metrics, from the path: also for responses
// httplib sends before any route runs (413).
std::string route_of(const std::string& path) {
  static const std::string webhooks = "/webhooks/vapi";
  if (path == webhooks) return webhooks;
  if (path.rfind(webhooks + "/", 0) == 0) return webhooks + "/{org_id}";
  if (path == "/health" || path == "/metrics") return path;
  return "other";
}

// The last segment of /webhooks/vapi/{org_id} (perhaps empty), or nullopt
// for any other path.
std::optional<std::string_view> org_segment(std::string_view path) {
  constexpr std::string_view prefix = "/webhooks/vapi/";
  if (path.substr(0, prefix.size()) != prefix || path.find('/', prefix.size()) != std::string_view::npos)
    return std::nullopt;
  return path.substr(prefix.size());
}

bool is_uuid(std::string_view text) {
  constexpr std::string_view digits = "0123456789abcdefABCDEF";
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : digits.find(text[i]) == std::string_view::npos) return false;
  }
  return true;
}

// The requests whose body a webhook route reads (the others' httplib would).
bool is_webhook(const httplib::Request& request) {
  return request.method == "POST" && (request.path == "/webhooks/vapi" || org_segment(request.path));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Server::Server(const Config& config, std::vector<Secret> shim_secrets)
    : config_(config),
      shim_secrets_(std::move(shim_secrets)),
      pool_(vox::DbSettings{config.database_url, "vox-shim", shim_statements(), config.db_connect_timeout_s,
                            config.statement_timeout_ms, config.lock_timeout_ms, config.idle_in_transaction_timeout_ms},
            size_t(config.db_pool_size)),
      org_secrets_([this](const std::string& org_id) { return fetch_org_secrets(org_id); },
                   std::chrono::seconds(config.secret_cache_s)),
      secret_listener_(config.database_url, config.db_connect_timeout_s, org_secrets_),
      per_ip_({config.ip_rate, config.ip_burst}, size_t(config.rate_limit_keys)),
      per_call_({config.call_rate, config.call_burst}, size_t(config.rate_limit_keys)),
      trusted_proxies_(split_addresses(config.trusted_proxies)),
      http_(ConnectionSettings{size_t(config.worker_threads), size_t(config.queue_limit),
                               size_t(config.max_connections_per_ip), trusted_proxies_, HeadLimits{}}) {
  http_.set_payload_max_length(config_.max_body_bytes);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which lets a
  // second shim bind the same port silently.
  http_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http_.set_read_timeout(config_.read_timeout_s, 0);
  http_.set_write_timeout(config_.write_timeout_s, 0);
  http_.set_keep_alive_timeout(config_.keep_alive_timeout_s);
  // httplib writes a response's headers and body separately: without
  // TCP_NODELAY each keep-alive response waits for the client's delayed ACK
  // (about 40 ms).
  http_.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default; a
  // sender then reconnects all the time.
  http_.set_keep_alive_max_count(1000);

  http_.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    current = RequestRecord{};
    identify(response);
    if (asks_to_close(request)) close_after(response);
    // Framing a proxy in front could read otherwise: refused, and nothing
    // after it on the connection is read.
    if (const FramingProblem problem = framing_problem(request); problem.status != 0) {
      close_after(response);
      current.error = problem.error;
      respond_error(response, problem.status, problem.error);
      return httplib::Server::HandlerResponse::Handled;
    }
    // Only the webhook routes take a body, and read it themselves (read_body).
    // Elsewhere httplib would read a chunked one of any size whole, or leave
    // one unread (GET) to be taken for the next request: refused unread.
    if (!is_webhook(request) &&
        (request.has_header("Transfer-Encoding") || request.get_header_value_u64("Content-Length") > 0)) {
      close_after(response);
      respond_error(response, 413, "this route takes no body");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Webhook bodies are read by the route itself, so that the size limit also
  // holds for chunked requests (httplib checks only Content-Length).
  http_.Post("/webhooks/vapi",
             [this](const httplib::Request& request, httplib::Response& response,
                    const httplib::ContentReader& content) { webhook(request, response, content, std::nullopt); });
  // A path parameter, not a regex (std::regex cost more than all the routing
  // else); it also takes "/webhooks/vapi/" and a trailing "/", which
  // org_segment refuses.
  http_.Post("/webhooks/vapi/:org_id", [this](const httplib::Request& request, httplib::Response& response,
                                              const httplib::ContentReader& content) {
    const std::optional<std::string_view> segment = org_segment(request.path);
    // One spelling per org, for the secret cache and the logs.
    const std::string org = segment ? lowercase(std::string(*segment)) : std::string();
    if (!is_uuid(org)) {
      std::string ignored;
      read_body(request, content, response, ignored);
      return respond_error(response, 404, "not found");
    }
    current.org_id = org;
    webhook(request, response, content, org);
  });
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& response) { health(response); });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.render(pool_.usage()), "text/plain; version=0.0.4");
  });
  http_.set_exception_handler([this](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
    current.error = "unexpected exception in a handler";
    respond_error(response, 500, "internal error");
  });
  // Errors httplib answers itself (400, 404, 413, 414, 431), some before any
  // route ran, get a request id and a JSON body too.
  const httplib::Server::HandlerWithResponse error_body = [](const httplib::Request&, httplib::Response& response) {
    identify(response);
    if (response.body.empty()) {
      const char* error = response.status == 413   ? "body too large"
                          : response.status == 404 ? "not found"
                          : response.status == 414 ? "request target too long"
                          : response.status == 431 ? "request headers too large"
                                                   : "bad request";
      response.set_content(json{{"error", error}, {"request_id", current.request_id}}.dump(), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  };
  http_.set_error_response(error_body);
  http_.set_request_logger([this](const httplib::Request& request, const httplib::Response& response) {
    const bool started = current.start != Clock::time_point{};
    const double seconds = started ? std::chrono::duration<double>(Clock::now() - current.start).count() : 0.0;
    const std::string route = route_of(request.path);
    metrics_.count_request(route, response.status, seconds);
    json fields = {{"request_id", current.request_id},
                   {"route", route},
                   {"method", request.method},
                   {"status", response.status},
                   {"latency_ms", std::round(seconds * 1e4) / 10}};
    for (auto [name, value] : {std::pair{"org_id", &current.org_id},
                               {"event_type", &current.event_type},
                               {"call_id", &current.call_id},
                               {"outcome", &current.outcome},
                               {"sqlstate", &current.sqlstate},
                               {"error", &current.error}})
      if (!value->empty()) fields[name] = *value;
    if (current.body_unread) fields["body_unread"] = true;
    log(response.status >= 500 ? "error" : "info", "request", fields);
    current = RequestRecord{};
  });
}

bool Server::run() {
  log("info", "listening", {{"host", config_.host}, {"port", config_.port}});
  return http_.listen(config_.host, config_.port);
}

void Server::stop() { http_.stop(); }

void Server::respond_error(httplib::Response& response, int status, const std::string& error,
                           const std::string& sqlstate) {
  response.status = status;
  json body = {{"error", error}, {"request_id", current.request_id}};
  if (!sqlstate.empty()) body["sqlstate"] = sqlstate;
  response.set_content(body.dump(), "application/json");
}

bool Server::rate_limited(const std::string& key, RateLimiter& limiter, const char* scope,
                          httplib::Response& response) {
  const RateDecision decision = limiter.take(key, Clock::now());
  if (decision.allowed) return false;
  metrics_.count_rate_limited(scope);
  response.set_header("Retry-After", std::to_string(decision.retry_after_seconds));
  respond_error(response, 429, "rate limited");
  return true;
}

std::optional<std::vector<Secret>> Server::fetch_org_secrets(const std::string& org_id) {
  std::optional<vox::DbPool::Lease> connection = pool_.acquire(std::chrono::milliseconds(config_.db_pool_wait_ms));
  if (!connection) return std::nullopt;
  metrics_.count_secret_lookup();
  const DbResult result =
      webhook_secrets(**connection, org_id, Clock::now() + std::chrono::milliseconds(config_.statement_timeout_ms));
  if (!result.ok()) {
    metrics_.count_db_error(result.sqlstate);
    log("error", "secret lookup failed",
        {{"request_id", current.request_id},
         {"org_id", org_id},
         {"sqlstate", result.sqlstate},
         {"error", result.message}});
    return std::nullopt;
  }
  return parse_secret_list(result.value, [&](size_t index, const std::string& why) {
    log("warning", "unusable webhook secret skipped", {{"org_id", org_id}, {"index", index}, {"error", why}});
  });
}

DbResult Server::with_connection(const std::function<DbResult(DbConnection&)>& operation,
                                 std::chrono::milliseconds pool_wait, int retries) {
  for (int attempt = 0;; ++attempt) {
    std::optional<vox::DbPool::Lease> connection = pool_.acquire(pool_wait);
    const DbResult result =
        connection ? operation(**connection) : DbResult{"", "53300", "no database connection free", true, {}};
    if (result.ok()) return result;
    metrics_.count_db_error(result.sqlstate);
    if (attempt >= retries || !is_retryable_sqlstate(result.sqlstate)) return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(10 << attempt));
  }
}

Server::Body Server::read_body(const httplib::Request& request, const httplib::ContentReader& content,
                               httplib::Response& response, std::string& body) {
  // Read whole, so that no byte of it is taken for the next request on the
  // connection; but not past the limit (httplib would read an announced
  // oversized body to its end just to drop it): what is left unread then
  // closes the connection after the answer.
  bool too_large = request.get_header_value_u64("Content-Length") > config_.max_body_bytes;
  bool complete = false;
  if (!too_large) {
    complete = content([&](const char* data, size_t length) {
      too_large = body.size() + length > config_.max_body_bytes;
      if (!too_large) body.append(data, length);
      return !too_large;
    });
  }
  const Body result = too_large ? Body::kTooLarge : complete ? Body::kComplete : Body::kIncomplete;
  if (result != Body::kComplete) close_after(response);
  return result;
}

void Server::webhook(const httplib::Request& request, httplib::Response& response,
                     const httplib::ContentReader& content, const std::optional<std::string>& org) {
  // 1. The body (see read_body), then what can be told without it.
  std::string body;
  const Body read = read_body(request, content, response, body);
  // httplib has already inflated a compressed body: what was signed is gone.
  const std::string encoding = request.get_header_value("Content-Encoding");
  if (!encoding.empty() && encoding != "identity")
    return respond_error(response, 415, "Content-Encoding must be identity");
  if (!is_json_content_type(request.get_header_value("Content-Type")))
    return respond_error(response, 415, "Content-Type must be application/json");
  if (read == Body::kTooLarge) return respond_error(response, 413, "body too large");
  if (read == Body::kIncomplete) return respond_error(response, 400, "body could not be read");

  // 2. Rate limit per client IP, before authentication: a flood of unsigned
  //    requests never reaches the secret lookup.
  std::string forwarded_for;  // every line: a client's own line may come before the proxy's
  for (size_t i = 0, n = request.get_header_value_count("X-Forwarded-For"); i < n; ++i)
    forwarded_for += (i > 0 ? "," : "") + request.get_header_value("X-Forwarded-For", "", i);
  const std::string client = client_ip(request.remote_addr, forwarded_for, trusted_proxies_);
  if (rate_limited(client, per_ip_, "ip", response)) return;

  // 3. Authentication, over the raw body bytes.
  const HeaderLookup header = [&](std::string_view name) -> std::optional<std::string> {
    const std::string key(name);
    if (!request.has_header(key)) return std::nullopt;
    return request.get_header_value(key);
  };
  std::optional<SecretList> secrets;
  if (org) {
    secrets = org_secrets_.get(*org, Clock::now());
  } else {
    secrets = std::make_shared<const std::vector<Secret>>(shim_secrets_);
  }
  Verdict verdict;
  if (secrets) verdict = verify(**secrets, header, body, unix_now(), config_.timestamp_tolerance_s);
  if (secrets && !verdict.ok && org) {  // perhaps rotated since it was cached
    std::optional<SecretList> fresh = org_secrets_.refresh(*org, Clock::now());
    if (fresh && *fresh != *secrets) verdict = verify(**fresh, header, body, unix_now(), config_.timestamp_tolerance_s);
    if (!fresh) secrets.reset();
  }
  if (!secrets) {  // not the sender's fault: it should retry, not give up
    current.error = "the org's secrets could not be read";
    response.set_header("Retry-After", std::to_string(config_.retry_after_s));
    return respond_error(response, 503, "temporarily unavailable");
  }
  if (!verdict.ok) {
    metrics_.count_auth_rejected(verdict.reason);
    current.error = verdict.reason;
    // The reason is the operator's: to a stranger it would tell whether the
    // org exists and how it signs.
    return respond_error(response, 401, "unauthorized");
  }

  // 4. What the shim reads of the body, and the rate limit per client IP and
  //    call. Escapes jsonb refuses are repaired first (the signature covered
  //    the bytes as sent). A body nlohmann cannot read (a number beyond a
  //    double's range, which PostgreSQL takes; or no JSON at all) goes to the
  //    database as it is, which judges it; JSON that is no object is refused.
  repair_json_escapes(body);
  if (json_nesting_depth(body) > kMaxJsonDepth)
    return respond_error(response, 400, "body nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  const VapiEvent event = read_vapi_event(body);
  if (event.json && !event.object) return respond_error(response, 400, "body is not a JSON object");
  if (!note_event(event))
    return respond_error(response, 400, "message.call.id is longer than " + std::to_string(kMaxCallIdBytes) + " bytes");
  if (!current.call_id.empty() && rate_limited(client + "|" + current.call_id, per_call_, "call", response)) return;

  // 5. One vox.handle_event call, retried briefly on what passes.
  const DbResult result = with_connection(
      [&](DbConnection& db) {
        return handle_event(db, org, body, verdict.delivery_id,
                            Clock::now() + std::chrono::milliseconds(config_.statement_timeout_ms + 1000));
      },
      std::chrono::milliseconds(config_.db_pool_wait_ms), config_.db_retries);
  if (result.ok()) {
    DatabaseAnswer answer = read_database_answer(result.value);
    current.outcome = answer.status;
    if (!org && !answer.org_id.empty()) current.org_id = answer.org_id;  // the tenant the database resolved
    metrics_.count_outcome(current.outcome.empty() ? "unknown" : current.outcome);
    response.status = 200;
    response.set_content(std::move(answer.body), "application/json");
    return;
  }
  current.sqlstate = result.sqlstate;
  current.error = result.message;
  int status = http_status_for_sqlstate(result.sqlstate);
  if (result.setup_failed && status != 503) status = 500;  // never the request's fault
  if (status == 503) response.set_header("Retry-After", std::to_string(config_.retry_after_s));
  // A 400 names the bad field; other failures are not the sender's to read.
  respond_error(response, status,
                status == 400   ? result.message
                : status == 503 ? "temporarily unavailable"
                                : "internal error",
                result.sqlstate);
}

void Server::health(httplib::Response& response) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(config_.health_timeout_ms);
  // One retry: after a PostgreSQL restart, a pooled connection is stale
  // until it is reopened.
  const DbResult result = with_connection([&](DbConnection& db) { return db.ping(deadline); },
                                          std::chrono::milliseconds(config_.health_timeout_ms), 1);
  if (result.ok() && Clock::now() <= deadline) {
    response.set_content(R"({"status":"ok"})", "application/json");
    return;
  }
  current.sqlstate = result.sqlstate;
  current.error = result.ok() ? "database answered too late" : result.message;
  response.status = 503;
  response.set_header("Retry-After", std::to_string(config_.retry_after_s));
  response.set_content(R"({"status":"unavailable"})", "application/json");
}

}  // namespace shim
