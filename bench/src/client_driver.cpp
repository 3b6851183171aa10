// The `client` mode: the seeds' style, what a web backend without a
// transaction does. Every step is its own round trip in autocommit, so each
// write is its own commit: look the agent up, check the idempotency mark,
// write it, look the call up, create its rows if missing (lead lookup, then
// tracking, log and summary inserts), then update them, then the outbox.
// The rows it leaves are close to vox's; only the work is compared, not the
// rows (the equality check is between vox and plpgsql).
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "drivers.hpp"
#include "signer.hpp"

namespace bench {

namespace {

using Json = nlohmann::json;

Param text_of(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const char* kStatements[][2] = {
    {"agent", "SELECT org_id, id FROM vox.agents WHERE vapi_assistant_id = $1 AND active"},
    {"seen", "SELECT 1 FROM vox.processed_webhook_events WHERE org_id = $1 AND event_id = $2"},
    {"mark",
     "INSERT INTO vox.processed_webhook_events (org_id, event_id, event_type, vapi_call_id) VALUES ($1, $2, $3, $4) "
     "ON CONFLICT DO NOTHING"},
    {"tracking", "SELECT status FROM vox.call_tracking WHERE org_id = $1 AND vapi_call_id = $2"},
    {"lead", "SELECT id FROM vox.leads WHERE org_id = $1 AND phone = $2 ORDER BY created_at, id LIMIT 1"},
    {"insert_tracking",
     "INSERT INTO vox.call_tracking (org_id, vapi_call_id, agent_id, agent_route, lead_id, channel, status) "
     "VALUES ($1, $2, $3, 2, $4, $5, $6) ON CONFLICT DO NOTHING"},
    {"insert_log",
     "INSERT INTO vox.call_logs (org_id, vapi_call_id, channel, status, customer_number, lead_id, agent_id, "
     "agent_route) VALUES ($1, $2, $3, $4, $5, $6, $7, 2) ON CONFLICT DO NOTHING"},
    {"insert_calls",
     "INSERT INTO vox.calls (org_id, vapi_call_id, status, customer_number) VALUES ($1, $2, $3, $4) "
     "ON CONFLICT DO NOTHING"},
    {"update_tracking",
     "UPDATE vox.call_tracking SET status = $3, updated_at = now() WHERE org_id = $1 AND vapi_call_id = $2 "
     "AND vox.call_status_rank($3) > vox.call_status_rank(status)"},
    {"update_log",
     "UPDATE vox.call_logs SET status = $3, started_at = COALESCE(started_at, $4::timestamptz), "
     "ended_at = COALESCE(ended_at, $5::timestamptz), ended_reason = COALESCE(ended_reason, $6), updated_at = now() "
     "WHERE org_id = $1 AND vapi_call_id = $2 AND vox.call_status_rank($3) > vox.call_status_rank(status)"},
    {"update_calls",
     "UPDATE vox.calls SET status = $3, started_at = COALESCE(started_at, $4::timestamptz), "
     "ended_at = COALESCE(ended_at, $5::timestamptz), updated_at = now() "
     "WHERE org_id = $1 AND vapi_call_id = $2 AND vox.call_status_rank($3) > vox.call_status_rank(status)"},
    {"report_log",
     "UPDATE vox.call_logs SET status = 'ended', started_at = $3, ended_at = $4, ended_reason = $5, outcome = $6, "
     "summary = $7, transcript = $8, recording_url = $9, cost = $10::numeric, report_received = true, "
     "updated_at = now() WHERE org_id = $1 AND vapi_call_id = $2"},
    {"report_calls",
     "UPDATE vox.calls SET status = 'ended', started_at = $3, ended_at = $4, cost = $5::numeric, updated_at = now() "
     "WHERE org_id = $1 AND vapi_call_id = $2"},
    {"recording",
     "INSERT INTO vox.recording_upload_queue (org_id, vapi_call_id, recording_url) VALUES ($1, $2, $3) "
     "ON CONFLICT DO NOTHING"},
    {"transcript",
     "INSERT INTO vox.call_transcripts (org_id, vapi_call_id, role, text, spoken_at, content_key) "
     "VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), $6) ON CONFLICT DO NOTHING RETURNING id"},
    {"outbox", "INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload) VALUES ($1, $2, $3, $4::jsonb)"},
};

class ClientDriver : public Driver {
 public:
  explicit ClientDriver(const Target& target) : db_(target.conninfo) {
    for (const auto& statement : kStatements) db_.prepare(statement[0], statement[1]);
  }

  void deliver(const Delivery& delivery) override {
    const Json envelope = Json::parse(delivery.body);
    const Json& message = envelope.at("message");
    const Json& call = message.at("call");
    const std::string type = message.at("type").get<std::string>();
    const std::string call_id = call.at("id").get<std::string>();

    Result agent = db_.exec_prepared("agent", {call.at("assistantId").get<std::string>()});
    if (agent.rows() != 1) throw std::runtime_error("client: unknown assistant");
    const std::string org = agent.text(0, 0), agent_id = agent.text(0, 1);

    const std::string event_id = event_key(type, call_id, message);
    if (db_.exec_prepared("seen", {org, event_id}).rows() > 0) return;  // duplicate
    db_.exec_prepared("mark", {org, event_id, type, call_id});

    if (type == "transcript") {
      Result inserted =
          db_.exec_prepared("transcript", {org, call_id, text_of(message, "role"), text_of(message, "transcript"),
                                           text_of(message, "timestamp"), content_key(message)});
      if (inserted.rows() == 1)
        outbox(org, type, call_id,
               Json{{"vapi_call_id", call_id}, {"transcript_id", inserted.integer(0, 0)}, {"role", message["role"]}});
      return;
    }
    const std::string status = type == "status-update" ? message.at("status").get<std::string>() : "ended";
    ensure_call(org, agent_id, call_id, call, status);
    if (type == "status-update") {
      const Param ended_at = status == "ended" ? text_of(call, "endedAt") : std::nullopt;
      const Param ended_reason = status == "ended" ? text_of(message, "endedReason") : std::nullopt;
      db_.exec_prepared("update_tracking", {org, call_id, status});
      db_.exec_prepared("update_log", {org, call_id, status, text_of(call, "startedAt"), ended_at, ended_reason});
      db_.exec_prepared("update_calls", {org, call_id, status, text_of(call, "startedAt"), ended_at});
    } else {
      const Json& artifact = message.at("artifact");
      const Json& analysis = message.at("analysis");
      const Param recording = text_of(artifact.at("recording").at("mono"), "combinedUrl");
      db_.exec_prepared("update_tracking", {org, call_id, status});
      db_.exec_prepared("report_log", {org, call_id, text_of(message, "startedAt"), text_of(message, "endedAt"),
                                       text_of(message, "endedReason"), text_of(analysis, "successEvaluation"),
                                       text_of(analysis, "summary"), text_of(artifact, "transcript"), recording,
                                       text_of(message, "cost")});
      db_.exec_prepared("report_calls", {org, call_id, text_of(message, "startedAt"), text_of(message, "endedAt"),
                                         text_of(message, "cost")});
      db_.exec_prepared("recording", {org, call_id, recording});
    }
    outbox(org, type, call_id, Json{{"vapi_call_id", call_id}, {"status", status}});
  }

  int backend_pid() const override { return db_.backend_pid(); }

 private:
  // The call's rows, created on first sight: look up, then insert.
  void ensure_call(const std::string& org, const std::string& agent_id, const std::string& call_id, const Json& call,
                   const std::string& status) {
    if (db_.exec_prepared("tracking", {org, call_id}).rows() > 0) return;
    const Param number = text_of(call.at("customer"), "number");
    Result lead = db_.exec_prepared("lead", {org, number});
    const Param lead_id = lead.rows() > 0 ? lead.optional_text(0, 0) : std::nullopt;
    const std::string channel = call.at("type") == "outboundPhoneCall" ? "outbound" : "inbound";
    db_.exec_prepared("insert_tracking", {org, call_id, agent_id, lead_id, channel, status});
    db_.exec_prepared("insert_log", {org, call_id, channel, status, number, lead_id, agent_id});
    db_.exec_prepared("insert_calls", {org, call_id, status, number});
  }

  void outbox(const std::string& org, const std::string& topic, const std::string& call_id, const Json& payload) {
    db_.exec_prepared("outbox", {org, topic, call_id, payload.dump()});
  }

  // The transcript key of vox (README "Idempotency"): role, words and the
  // utterance's own timestamp.
  static std::string content_key(const Json& message) {
    std::string material = message.at("role").get<std::string>();
    material.push_back('\0');
    material += message.at("transcript").get<std::string>();
    material.push_back('\0');
    material += "t" + std::to_string(message.at("timestamp").get<int64_t>());
    return sha256_hex(material).substr(0, 32);
  }

  static std::string event_key(const std::string& type, const std::string& call_id, const Json& message) {
    if (type == "status-update") return "status-update:" + call_id + ":" + message.at("status").get<std::string>();
    if (type == "transcript") return "transcript:" + call_id + ":" + content_key(message);
    return "end-of-call-report:" + call_id;
  }

  Connection db_;
};

}  // namespace

std::unique_ptr<Driver> make_client_driver(const Target& target) { return std::make_unique<ClientDriver>(target); }

}  // namespace bench
