// SQL-level fuzzer of vox.handle_event: sends seeded, mutated and random
// Vapi-shaped payloads through both forms of the function and accepts only
// success or a class-22 error (DESIGN §2 invariant 6). 54000/54001 pass only
// when PostgreSQL's jsonb input raises them on its own, before vox runs.
//
// Usage: vox-sql-fuzz EVENTS SEED REPRODUCER_DIR
// The database comes from libpq's environment (PGHOST, PGPORT, PGDATABASE,
// PGUSER) and must hold the vox extension with some orgs, agents and numbers.
// Prints "# ..." diagnostics: the count of every outcome, and for each failure
// its reason and the file its payload was saved to (payloads are never
// printed). Exit status 1 if anything failed.
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;

std::mt19937_64 rng;

size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
template <typename T>
const T& pick(const std::vector<T>& items) {
  return items[below(items.size())];
}

// ------------------------------------------------------------ payloads ----

// Tenants read from the database; ids vox has never heard of are added, so
// that parking and unknown signers are exercised too.
struct World {
  std::vector<std::string> orgs, assistants, phone_number_ids, numbers;
};

// Text spliced into the serialized payload where a placeholder string stands:
// what nlohmann::json cannot hold (numbers beyond double, duplicate keys,
// escapes it would normalise, bytes that are not UTF-8).
struct Payload {
  explicit Payload(json v) : value(std::move(v)) {}

  json value;
  std::vector<std::string> raw;
  std::string mutation = "valid";

  json placeholder(std::string text) {
    raw.push_back(std::move(text));
    return "\x01raw:" + std::to_string(raw.size() - 1) + "\x01";
  }
  std::string text() const {
    std::string out = value.dump();
    for (size_t i = raw.size(); i-- > 0;) {  // from the last: a fragment may hold an earlier placeholder
      const std::string marker = "\"\\u0001raw:" + std::to_string(i) + "\\u0001\"";
      for (size_t at = out.find(marker); at != std::string::npos; at = out.find(marker, at + raw[i].size()))
        out.replace(at, marker.size(), raw[i]);
    }
    return out;
  }
};

const std::vector<std::string> kStatuses = {"scheduled",  "queued", "ringing",   "in-progress",
                                            "forwarding", "ended",  "not-found", "deletion-failed"};
const std::vector<std::string> kOtherTypes = {"speech-update",    "conversation-update", "hang",        "tool-calls",
                                              "user-interrupted", "model-output",        "no-such-type"};

std::string call_id() { return "fuzz-call-" + std::to_string(below(300)); }

std::string customer_number(const World& world) {
  switch (below(4)) {
    case 0:
      return pick(world.numbers);
    case 1:
      return "+1415555" + std::to_string(1000 + below(9000));
    case 2:
      return "anonymous";
    default:
      return "(415) 555-" + std::to_string(1000 + below(9000));
  }
}

json vapi_call(const World& world) {
  json call = {{"id", call_id()},
               {"orgId", "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b"},
               {"createdAt", "2025-11-21T16:00:00.000Z"},
               {"updatedAt", "2025-11-21T16:00:00.000Z"},
               {"type", pick(std::vector<std::string>{"inboundPhoneCall", "outboundPhoneCall", "webCall"})},
               {"status", "queued"},
               {"phoneCallProvider", "twilio"},
               {"phoneCallTransport", "pstn"},
               {"customer", {{"number", customer_number(world)}}}};
  if (chance(0.9)) call["assistantId"] = chance(0.9) ? pick(world.assistants) : "fuzz-unknown-assistant";
  if (chance(0.5)) call["phoneNumberId"] = chance(0.9) ? pick(world.phone_number_ids) : "fuzz-unknown-number";
  return call;
}

int64_t timestamp_ms() { return 1'763'740'800'000 + int64_t(below(3'600'000)); }

// A valid message of the given kind: Vapi's envelope, or the older flat form.
json valid_message(const World& world, const std::string& kind) {
  json call = vapi_call(world);
  const std::string role = chance(0.5) ? "user" : "assistant";
  const std::string words = pick(std::vector<std::string>{"Hello?", "I need to book a cleaning.", "Tuesday works."});
  if (kind == "status-update") {
    const std::string status = pick(kStatuses);
    call["status"] = status;
    json message = {{"type", kind}, {"status", status}, {"timestamp", timestamp_ms()}, {"call", call}};
    if (status == "ended") {
      message["endedReason"] = "customer-ended-call";
      call["startedAt"] = "2025-11-21T16:00:01.000Z";
      call["endedAt"] = "2025-11-21T16:03:31.500Z";
    }
    return {{"message", message}};
  }
  if (kind == "transcript") {
    return {{"message",
             {{"type", kind},
              {"role", role},
              {"transcriptType", chance(0.8) ? "final" : "partial"},
              {"transcript", words},
              {"timestamp", timestamp_ms()},
              {"call", call}}}};
  }
  if (kind == "end-of-call-report") {
    call["status"] = "ended";
    return {{"message",
             {{"type", kind},
              {"timestamp", timestamp_ms()},
              {"endedReason", "customer-ended-call"},
              {"cost", 0.1234},
              {"startedAt", "2025-11-21T16:00:01.000Z"},
              {"endedAt", "2025-11-21T16:03:31.500Z"},
              {"artifact",
               {{"transcript", "AI: Thanks for calling. User: I need to book a cleaning."},
                {"recording",
                 {{"mono", {{"combinedUrl", "https://storage.vapi.ai/" + call["id"].get<std::string>() + ".wav"}}}}}}},
              {"analysis", {{"summary", "Caller booked a cleaning."}, {"successEvaluation", "true"}}},
              {"call", call}}}};
  }
  if (kind == "assistant-request") {
    return {{"message",
             {{"type", kind},
              {"timestamp", timestamp_ms()},
              {"call", call},
              {"phoneNumber", {{"number", pick(world.numbers)}}}}}};
  }
  if (kind == "call.started" || kind == "call.ended") return {{"type", kind}, {"call", call}};
  if (kind == "call.transcribed") {
    return {{"type", kind},
            {chance(0.5) ? "role" : "speaker", role},
            {"transcript", words},
            {"timestamp", timestamp_ms()},
            {"call", call}};
  }
  if (kind == "flat-end-of-call-report") {
    return {{"type", "end-of-call-report"},
            {"endedReason", "customer-ended-call"},
            {"cost", 0.5},
            {"summary", "Booked."},
            {"call", call}};
  }
  return {{"message", {{"type", kind}, {"timestamp", timestamp_ms()}, {"call", call}}}};
}

std::vector<std::string> message_kinds() {
  std::vector<std::string> kinds = {"status-update", "transcript", "end-of-call-report", "assistant-request",
                                    "call.started",  "call.ended", "call.transcribed",   "flat-end-of-call-report"};
  kinds.insert(kinds.end(), kOtherTypes.begin(), kOtherTypes.end());
  return kinds;
}

// Every node of a document but the root.
void collect_paths(const json& node, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  if (node.is_object()) {
    for (const auto& [key, child] : node.items()) {
      out.push_back(at / key);
      collect_paths(child, at / key, out);
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      out.push_back(at / i);
      collect_paths(node[i], at / i, out);
    }
  }
}

void remove_at(json& document, const json::json_pointer& path) {
  json& parent = document.at(path.parent_pointer());
  if (parent.is_object()) {
    parent.erase(path.back());
  } else {
    parent.erase(std::stoul(path.back()));
  }
}

std::string nested(size_t depth, bool objects) {
  std::string open = objects ? "{\"a\":" : "[", close = objects ? "}" : "]";
  std::string out;
  out.reserve(depth * (open.size() + 1) + 2);
  for (size_t i = 0; i < depth; ++i) out += open;
  out += "1";
  for (size_t i = 0; i < depth; ++i) out += close;
  return out;
}

// A value of the wrong type, shape or range for wherever it lands.
json hostile_value(Payload& p) {
  static const std::vector<std::string> numbers = {"1e400",
                                                   "-1e400",
                                                   "1e-400",
                                                   "-0",
                                                   "-0.0",
                                                   "0e0",
                                                   "123456789012345678901234567890",
                                                   "-9223372036854775809",
                                                   "9223372036854775808",
                                                   "18446744073709551616",
                                                   "1.7976931348623157e309",
                                                   "0.000000000000000000000000000001",
                                                   "2147483648",
                                                   "-2147483649",
                                                   "1763740801000.5"};
  static const std::vector<std::string> strings = {"\"\\u0000\"",
                                                   "\"a\\u0000b\"",
                                                   "\"\\ud800\"",
                                                   "\"\\udfff\"",
                                                   "\"\\udfff\\ud800\"",
                                                   "\"x\\ud83d\"",
                                                   "\"\\ud83d\\ude00\"",
                                                   "\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"",
                                                   "\"\\u00e9\\u200b\\ufeff\"",
                                                   "\"\xff\xfe\"",
                                                   "\"\xc0\xaf\"",
                                                   "\"\xed\xa0\x80\"",
                                                   "\"\xe2\x82\"",
                                                   "\"%s%n\"",
                                                   "\"'; DROP TABLE vox.calls; --\"",
                                                   "\"  \"",
                                                   "\"\"",
                                                   "\"null\"",
                                                   "\"2025-11-21T16:00:01Z\"",
                                                   "\"+14155550123\"",
                                                   "\"fuzz-call-1\""};
  switch (below(8)) {
    case 0:
      return p.placeholder(pick(numbers));
    case 1:
      return p.placeholder(pick(strings));
    case 2:
      return nullptr;
    case 3:
      return chance(0.5);
    case 4:
      return pick(std::vector<json>{json::array(), json::object(), json::array({1, "a", nullptr}),
                                    json{{"type", "status-update"}}});
    case 5:
      return int64_t(rng());
    case 6:
      return std::uniform_real_distribution<double>(-1e12, 1e12)(rng);
    default:
      return std::string(below(300), char('a' + below(26)));
  }
}

json random_json(size_t depth) {
  static const std::vector<std::string> keys = {
      "message",       "type",     "call",        "id",        "status",      "assistantId",
      "phoneNumberId", "customer", "number",      "timestamp", "transcript",  "transcriptType",
      "role",          "artifact", "recording",   "mono",      "combinedUrl", "analysis",
      "summary",       "cost",     "endedReason", "startedAt", "endedAt",     "phoneNumber",
      "speaker",       "x"};
  switch (depth == 0 ? below(4) : below(6)) {
    case 0:
      return nullptr;
    case 1:
      return int64_t(rng() % 2000000) - 1000000;
    case 2:
      return pick(keys);
    case 3:
      return pick(kStatuses);
    case 4: {
      json object = json::object();
      for (size_t i = below(6); i-- > 0;) object[pick(keys)] = random_json(depth - 1);
      return object;
    }
    default: {
      json array = json::array();
      for (size_t i = below(4); i-- > 0;) array.push_back(random_json(depth - 1));
      return array;
    }
  }
}

// One mutation at a random node; names it in p.mutation.
void mutate(Payload& p) {
  std::vector<json::json_pointer> paths;
  collect_paths(p.value, json::json_pointer(), paths);
  if (paths.empty()) {
    p.value = random_json(4);
    p.mutation = "random";
    return;
  }
  const json::json_pointer path = pick(paths);
  json& node = p.value.at(path);
  switch (below(10)) {
    case 0:
      remove_at(p.value, path);
      p.mutation = "remove";
      break;
    case 1:
    case 2:
      node = hostile_value(p);
      p.mutation = "wrong value";
      break;
    case 3: {
      // Megabytes, a few times per thousand events: the total stays bounded.
      const size_t size = chance(0.05) ? (1 + below(4)) << 20 : 1000 + below(100000);
      node = std::string(size, char('a' + below(26)));
      p.mutation = size >= (1 << 20) ? "huge string" : "long string";
      break;
    }
    case 4: {
      const size_t depth = pick(std::vector<size_t>{64, 1000, 10000, 100000});
      node = p.placeholder(nested(depth, chance(0.5)));
      p.mutation = "nesting " + std::to_string(depth);
      break;
    }
    case 5:
      node = json::array({node});
      p.mutation = "array instead";
      break;
    case 6:
      if (node.is_object() && !node.empty()) {
        // jsonb keeps the last of duplicate keys: either the original or the impostor wins.
        const std::string key = node.items().begin().key();
        const std::string body = node.dump(), impostor = json(key).dump() + ":" + hostile_value(p).dump();
        node = p.placeholder(chance(0.5) ? "{" + impostor + "," + body.substr(1)
                                         : body.substr(0, body.size() - 1) + "," + impostor + "}");
        p.mutation = "duplicate key";
      } else {
        node = random_json(3);
        p.mutation = "random subtree";
      }
      break;
    case 7:
      node = random_json(3);
      p.mutation = "random subtree";
      break;
    case 8:
      node = pick(std::vector<json>{"status-update", "transcript", "end-of-call-report", "assistant-request",
                                    "call.started", "final", "partial", "ended", "", "fuzz-call-7"});
      p.mutation = "other enum";
      break;
    default:
      if (node.is_object()) {
        node[pick(std::vector<std::string>{"type", "status", "id", "call", "message", "timestamp"})] = hostile_value(p);
      } else {
        node = hostile_value(p);
      }
      p.mutation = "added field";
      break;
  }
}

// ------------------------------------------------------------ database ----

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct Event {
  std::optional<std::string> org;  // the signer: the three-argument form
  std::string payload;
  std::optional<std::string> delivery_id;
};

class Fuzzer {
 public:
  explicit Fuzzer(std::string reproducer_dir) : reproducer_dir_(std::move(reproducer_dir)) { connect(); }
  ~Fuzzer() { PQfinish(conn_); }

  bool connected() const { return PQstatus(conn_) == CONNECTION_OK; }

  World world() {
    World w;
    auto column = [&](const char* sql) {
      std::vector<std::string> values;
      Result r(PQexec(conn_, sql));
      for (int i = 0; r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && i < PQntuples(r.get()); ++i)
        values.push_back(PQgetvalue(r.get(), i, 0));
      return values;
    };
    w.orgs = column("SELECT id::text FROM vox.organizations ORDER BY id");
    w.assistants = column("SELECT vapi_assistant_id FROM vox.agents ORDER BY 1");
    w.phone_number_ids = column("SELECT vapi_phone_number_id FROM vox.phone_numbers ORDER BY 1");
    w.numbers = column("SELECT number FROM vox.phone_numbers ORDER BY 1");
    return w;
  }

  // Sends one event and files its outcome.
  void send(const Event& event, const std::string& mutation) {
    ++events_;
    const char* values[3] = {event.org ? event.org->c_str() : nullptr, event.payload.c_str(),
                             event.delivery_id ? event.delivery_id->c_str() : nullptr};
    Result r(event.org ? PQexecParams(conn_, "SELECT vox.handle_event($1::uuid, $2::jsonb, $3::text)", 3, nullptr,
                                      values, nullptr, nullptr, 0)
                       : PQexecParams(conn_, "SELECT vox.handle_event($1::jsonb)", 1, nullptr, values + 1, nullptr,
                                      nullptr, 0));
    if (!connected()) {
      fail("connection lost", event, mutation);
      connect();
      return;
    }
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
      const json result = json::parse(PQgetvalue(r.get(), 0, 0), nullptr, false);
      const std::string status = result.is_object() && result.contains("status") && result["status"].is_string()
                                     ? result["status"].get<std::string>()
                                     : "?";
      ++outcomes_["ok " + status];
      if (status == "?") fail("a result without a status", event, mutation);
      return;
    }
    const char* field = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const std::string state = field ? field : "none";
    if (state.rfind("22", 0) == 0) {
      ++outcomes_["sqlstate " + state];
    } else if ((state == "54000" || state == "54001") && jsonb_input_raises(event.payload, state)) {
      ++outcomes_["sqlstate " + state + " (jsonb input, before vox)"];
    } else {
      ++outcomes_["sqlstate " + state + " (not allowed)"];
      fail("SQLSTATE " + state, event, mutation);
    }
  }

  void report() const {
    std::printf("# events %zu\n", events_);
    for (const auto& [outcome, count] : outcomes_) std::printf("# %-52s %zu\n", outcome.c_str(), count);
  }
  size_t failures() const { return failures_; }

 private:
  // After a backend crash the server needs a moment to restart: bounded poll.
  void connect() {
    for (int attempt = 0; attempt < 60; ++attempt) {
      if (conn_) PQfinish(conn_);
      conn_ = PQconnectdb("");
      if (connected()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (!connected()) {
      std::printf("# FAIL cannot connect: %s", PQerrorMessage(conn_));
      report();
      std::exit(1);
    }
    // A payload that made the backend loop would show as 57014, a failure.
    Result r(PQexec(conn_, "SET statement_timeout = '60s'"));
  }

  // Whether the cast alone, without vox, raises the same SQLSTATE.
  bool jsonb_input_raises(const std::string& payload, const std::string& state) {
    const char* values[1] = {payload.c_str()};
    Result r(PQexecParams(conn_, "SELECT $1::jsonb IS NULL", 1, nullptr, values, nullptr, nullptr, 0));
    const char* field = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return field && state == field;
  }

  void fail(const std::string& why, const Event& event, const std::string& mutation) {
    ++failures_;
    const std::string path = reproducer_dir_ + "/sql-fuzz-" + std::to_string(failures_);
    if (failures_ <= 20) {
      std::ofstream(path + ".json", std::ios::binary) << event.payload;
      std::ofstream(path + ".args") << "form "
                                    << (event.org ? "vox.handle_event($1::uuid, $2::jsonb, $3::text)"
                                                  : "vox.handle_event($1::jsonb)")
                                    << "\norg " << event.org.value_or("(none)") << "\ndelivery_id "
                                    << event.delivery_id.value_or("(null)") << "\n";
    }
    std::printf("# FAIL %s after a '%s' payload of %zu bytes; reproducer %s.json (arguments in .args)\n", why.c_str(),
                mutation.c_str(), event.payload.size(), failures_ <= 20 ? path.c_str() : "(not kept)");
  }

  std::string reproducer_dir_;
  PGconn* conn_ = nullptr;
  size_t events_ = 0, failures_ = 0;
  std::map<std::string, size_t> outcomes_;
};

std::optional<std::string> delivery_id() {
  switch (below(6)) {
    case 0:
      return "msg_" + std::to_string(rng() % 1000);  // collides now and then: duplicate deliveries
    case 1:
      return std::string(below(2) ? 100000 : 0, 'd');
    case 2:
      return "\t \xe2\x80\x8b\\u0000 '\"";
    default:
      return std::nullopt;
  }
}

std::optional<std::string> signer(const World& world) {
  switch (below(5)) {
    case 0:
      return std::nullopt;
    case 1:
      return "00000000-0000-4000-8000-0000000000ff";  // no such org
    default:
      return pick(world.orgs);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s EVENTS SEED REPRODUCER_DIR\n", argv[0]);
    return 2;
  }
  const size_t events = std::stoul(argv[1]);
  rng.seed(std::stoull(argv[2]));
  Fuzzer fuzzer(argv[3]);
  const World world = fuzzer.world();
  if (world.orgs.empty() || world.assistants.empty() || world.numbers.empty()) {
    std::printf("# FAIL the database holds no orgs, agents or numbers to aim at\n");
    return 1;
  }
  size_t sent = 0;
  auto send = [&](Payload& p) {
    const Event event{signer(world), p.text(), delivery_id()};
    fuzzer.send(event, p.mutation);
    ++sent;
  };

  // Every field of every kind of message removed in turn.
  for (const std::string& kind : message_kinds()) {
    const json valid = valid_message(world, kind);
    std::vector<json::json_pointer> paths;
    collect_paths(valid, json::json_pointer(), paths);
    for (const json::json_pointer& path : paths) {
      Payload p{valid};
      remove_at(p.value, path);
      p.mutation = "remove " + path.to_string();
      send(p);
    }
  }
  // Then valid, mutated and random payloads, until the budget is spent.
  const std::vector<std::string> kinds = message_kinds();
  while (sent < events) {
    Payload p{valid_message(world, pick(kinds))};
    const size_t roll = below(20);
    if (roll == 0) {
      p.value = random_json(5);
      p.mutation = "random";
    } else if (roll == 1) {
      p.value = p.placeholder(nested(10000, chance(0.5)));
      p.mutation = "nesting 10000 (whole payload)";
    } else if (roll > 5) {  // else valid: a fifth of the events build up calls to collide with
      for (size_t n = 1 + below(3); n-- > 0;) mutate(p);
    }
    send(p);
  }
  fuzzer.report();
  return fuzzer.failures() == 0 ? 0 : 1;
}
