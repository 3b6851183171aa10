#include "drivers.hpp"

#include <chrono>
#include <stdexcept>

#include <httplib.h>

#include "db.hpp"
#include "signer.hpp"

namespace bench {

namespace {

// One prepared statement per event, in autocommit: one transaction each. Its
// parameters: the payload, or with with_org the org's id and the payload
// (vox's signed route, as vox-shim calls it).
class StatementDriver : public Driver {
 public:
  StatementDriver(const Target& target, const std::string& sql, const char* session_setup = nullptr,
                  bool with_org = false)
      : connection_(target.conninfo), with_org_(with_org) {
    if (session_setup) connection_.exec(session_setup);
    connection_.prepare("event", sql);
  }
  void deliver(const Delivery& delivery) override {
    if (with_org_)
      connection_.exec_prepared("event", {org_uuid(delivery.org), delivery.body});
    else
      connection_.exec_prepared("event", {delivery.body});
  }
  int backend_pid() const override { return connection_.backend_pid(); }

 private:
  Connection connection_;
  const bool with_org_;
};

// Signed POSTs to the org's URL over one keep-alive connection.
class HttpDriver : public Driver {
 public:
  explicit HttpDriver(const Target& target) : client_("127.0.0.1", target.shim_port), secrets_(target.secrets) {
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);  // headers and body are two writes: no Nagle delay between them
    client_.set_read_timeout(30, 0);
  }
  void deliver(const Delivery& delivery) override {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const SignedHeaders signature = sign_webhook(secrets_.at(static_cast<size_t>(delivery.org)), delivery.body, now);
    const httplib::Headers headers = {{"x-timestamp", signature.timestamp}, {"x-signature", signature.signature}};
    auto response =
        client_.Post("/webhooks/vapi/" + org_uuid(delivery.org), headers, delivery.body, "application/json");
    ++sent_;
    if (!response)
      throw std::runtime_error("http: no response (" + httplib::to_string(response.error()) + ") to request " +
                               std::to_string(sent_) + " of this connection");
    if (response->status != 200)
      throw std::runtime_error("http: status " + std::to_string(response->status) + ": " + response->body);
  }

 private:
  httplib::Client client_;
  const std::vector<std::string>& secrets_;
  long sent_ = 0;
};

}  // namespace

std::unique_ptr<Driver> make_driver(const std::string& mode, const Target& target) {
  // floor: the durable-commit limit, one single-row INSERT transaction per event.
  if (mode == "floor")
    return std::make_unique<StatementDriver>(target, "INSERT INTO bench_floor (payload) VALUES ($1::jsonb)");
  if (mode == "vox") return std::make_unique<StatementDriver>(target, "SELECT vox.handle_event($1::jsonb)");
  // The route vox-shim takes: the org known from the request's signature.
  if (mode == "vox-signed")
    return std::make_unique<StatementDriver>(target, "SELECT vox.handle_event($1::uuid, $2::jsonb)", nullptr, true);
  // vox as installed: NOTIFY vox_outbox on (the bench database turns it off).
  if (mode == "vox-notify")
    return std::make_unique<StatementDriver>(target, "SELECT vox.handle_event($1::jsonb)", "SET vox.notify = on");
  if (mode == "plpgsql") return std::make_unique<StatementDriver>(target, "SELECT vox_bench.handle_event($1::jsonb)");
  if (mode == "client") return make_client_driver(target);
  if (mode == "http") return std::make_unique<HttpDriver>(target);
  throw std::invalid_argument("unknown mode " + mode);
}

}  // namespace bench
