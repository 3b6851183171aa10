#include "workload.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

namespace bench {

using Json = nlohmann::ordered_json;

std::string org_uuid(int org) {
  char out[40];
  std::snprintf(out, sizeof out, "b0000000-0000-4000-8000-%012d", org);
  return out;
}
std::string assistant_id(int org) { return "asst_bench_" + std::to_string(org); }
std::string phone_number_id(int org) { return "pn_bench_" + std::to_string(org); }
std::string customer_number(int org, int k) { return "+1415" + std::to_string(2000000 + org * 20000 + k); }

namespace {

constexpr int64_t kEpochMs = 1763740800000;  // 2025-11-21T16:00:00Z
constexpr int64_t kCallSpacingMs = 1500;     // mean gap between two calls' starts

std::string iso8601(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return out;
}

std::string uuid_from(std::mt19937_64& rng) {
  const uint64_t a = rng(), b = rng();
  char out[40];
  std::snprintf(out, sizeof out, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

const char* const kAssistantLines[] = {
    "Thanks for calling, this is the front desk. How can I help you today?",
    "Sure, I can help you with that. Can I have your full name, please?",
    "I have an opening on Tuesday at ten in the morning, or Thursday at three. Which works better?",
    "Great, you are booked. You will get a confirmation by text message shortly.",
    "Is there anything else I can help you with today?",
    "Let me check the schedule for you, one moment please.",
    "Our office is open from eight to six on weekdays and until noon on Saturdays.",
    "I have noted that. Someone from the team will call you back within the hour."};
const char* const kUserLines[] = {"Hi, I would like to book an appointment for a cleaning.",
                                  "It's Jordan Rivera, R I V E R A.",
                                  "Tuesday at ten works for me.",
                                  "No, that's all, thank you so much.",
                                  "Do you take my insurance? It's through my employer.",
                                  "I need to move my appointment from Friday to next week.",
                                  "Can you tell me how long the visit usually takes?",
                                  "Okay, perfect, thanks."};
const char* const kEndedReasons[] = {"customer-ended-call", "assistant-ended-call", "silence-timed-out",
                                     "customer-ended-call"};

struct CallPlan {
  int org;
  std::string id;
  std::string number;
  bool outbound;
  int64_t created_ms, started_ms, ended_ms;
  std::string ended_reason;
};

Json call_object(const CallPlan& call, const char* status, bool started, bool ended) {
  Json object = {{"id", call.id},
                 {"orgId", "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b"},
                 {"createdAt", iso8601(call.created_ms)},
                 {"updatedAt", iso8601(ended     ? call.ended_ms
                                       : started ? call.started_ms
                                                 : call.created_ms)},
                 {"type", call.outbound ? "outboundPhoneCall" : "inboundPhoneCall"},
                 {"status", status},
                 {"assistantId", assistant_id(call.org)},
                 {"phoneNumberId", phone_number_id(call.org)},
                 {"phoneCallProvider", "twilio"},
                 {"phoneCallTransport", "pstn"},
                 {"customer", {{"number", call.number}}}};
  if (started) object["startedAt"] = iso8601(call.started_ms);
  if (ended) {
    object["endedAt"] = iso8601(call.ended_ms);
    object["endedReason"] = call.ended_reason;
  }
  return object;
}

std::string envelope(Json message) { return Json{{"message", std::move(message)}}.dump(); }

struct Event {
  int64_t at_ms;
  std::string body;
};

// The call's events in the order Vapi sends them.
std::vector<Event> call_events(const CallPlan& call, std::mt19937_64& rng) {
  std::vector<Event> events;
  auto status = [&](const char* name, int64_t at, bool started, bool ended) {
    Json message = {{"timestamp", at}, {"type", "status-update"}, {"status", name}};
    if (ended) message["endedReason"] = call.ended_reason;
    message["call"] = call_object(call, name, started, ended);
    events.push_back({at, envelope(std::move(message))});
  };
  status("queued", call.created_ms, false, false);
  status("ringing", call.created_ms + 1000, false, false);
  status("in-progress", call.started_ms, true, false);

  std::string full_transcript;
  const int utterances = 8 + static_cast<int>(rng() % 5);  // about ten
  const int64_t step = (call.ended_ms - call.started_ms) / (utterances + 1);
  for (int u = 0; u < utterances; ++u) {
    const bool assistant = u % 2 == 0;
    const std::string words = assistant ? kAssistantLines[rng() % 8] : kUserLines[rng() % 8];
    const int64_t at = call.started_ms + step * (u + 1) + static_cast<int64_t>(rng() % 1000);
    full_transcript += std::string(assistant ? "AI: " : "User: ") + words + "\n";
    Json message = {
        {"timestamp", at},           {"type", "transcript"}, {"role", assistant ? "assistant" : "user"},
        {"transcriptType", "final"}, {"transcript", words},  {"call", call_object(call, "in-progress", true, false)}};
    events.push_back({at, envelope(std::move(message))});
  }
  status("ended", call.ended_ms, true, true);

  const int64_t report_at = call.ended_ms + 2000 + static_cast<int64_t>(rng() % 3000);
  const double cost = static_cast<double>(500 + rng() % 5500) / 10000.0;
  const std::string recording = "https://storage.vapi.ai/" + call.id + "-mono.wav";
  Json report = {
      {"timestamp", report_at},
      {"type", "end-of-call-report"},
      {"endedReason", call.ended_reason},
      {"cost", cost},
      {"costBreakdown", {{"transport", 0.01}, {"stt", 0.02}, {"llm", 0.05}, {"tts", 0.03}, {"vapi", 0.05}}},
      {"startedAt", iso8601(call.started_ms)},
      {"endedAt", iso8601(call.ended_ms)},
      {"durationSeconds", static_cast<double>(call.ended_ms - call.started_ms) / 1000.0},
      {"artifact",
       {{"transcript", full_transcript},
        {"recordingUrl", recording},
        {"recording", {{"mono", {{"combinedUrl", recording}}}}}}},
      {"analysis",
       {{"summary", "The caller asked about an appointment; the assistant offered two slots and booked one."},
        {"successEvaluation", rng() % 4 == 0 ? "false" : "true"}}},
      {"call", call_object(call, "ended", true, true)}};
  events.push_back({report_at, envelope(std::move(report))});
  return events;
}

}  // namespace

std::vector<Delivery> generate(const WorkloadSpec& spec) {
  std::vector<Delivery> deliveries;
  std::bernoulli_distribution duplicate(spec.duplicate_rate), reorder(spec.reorder_rate);
  for (int index = spec.first_call; index < spec.first_call + spec.calls; ++index) {
    // One generator per call: a call is the same whichever range it is made in.
    std::mt19937_64 rng(spec.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index));
    CallPlan call;
    call.org = static_cast<int>(rng() % kOrgs);
    call.id = uuid_from(rng);
    call.number = customer_number(call.org, static_cast<int>(rng() % kCallersPerOrg));
    call.outbound = rng() % 5 == 0;
    call.created_ms = kEpochMs + static_cast<int64_t>(index) * kCallSpacingMs + static_cast<int64_t>(rng() % 1000);
    call.started_ms = call.created_ms + 4000 + static_cast<int64_t>(rng() % 4000);
    call.ended_ms = call.started_ms + 60000 + static_cast<int64_t>(rng() % 180000);
    call.ended_reason = kEndedReasons[rng() % 4];

    std::vector<Event> events = call_events(call, rng);
    // Delivery times stay those of the positions: a swapped event is late.
    std::vector<int64_t> times;
    for (const Event& event : events) times.push_back(event.at_ms);
    for (size_t i = 0; i + 1 < events.size(); ++i)
      if (reorder(rng)) std::swap(events[i].body, events[i + 1].body);
    // A retry comes one to three deliveries after the first attempt.
    std::vector<std::vector<size_t>> retries_after(events.size());
    for (size_t i = 0; i < events.size(); ++i)
      if (duplicate(rng))
        retries_after[std::min(events.size() - 1, i + 1 + static_cast<size_t>(rng() % 3))].push_back(i);
    for (size_t i = 0; i < events.size(); ++i) {
      deliveries.push_back({index, call.org, times[i], events[i].body});
      for (size_t retried : retries_after[i]) deliveries.push_back({index, call.org, times[i], events[retried].body});
    }
  }
  // Stable: a call's deliveries, in time order already, keep their order.
  std::stable_sort(deliveries.begin(), deliveries.end(),
                   [](const Delivery& a, const Delivery& b) { return a.at_ms < b.at_ms; });
  return deliveries;
}

std::vector<std::vector<const Delivery*>> split_by_call(const std::vector<Delivery>& deliveries, int threads) {
  std::vector<std::vector<const Delivery*>> split(static_cast<size_t>(threads));
  for (const Delivery& delivery : deliveries) split[static_cast<size_t>(delivery.call % threads)].push_back(&delivery);
  return split;
}

}  // namespace bench
