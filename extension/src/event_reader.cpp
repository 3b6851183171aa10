#include "event_reader.hpp"

#include <cmath>
#include <string>

extern "C" {
#include "utils/builtins.h"
#include "utils/numeric.h"
}

namespace vox {

namespace {

// One JSON object inside the payload, with the path used in error messages.
class ObjectView {
 public:
  ObjectView(JsonbContainer* container, std::string path) : container_(container), path_(std::move(path)) {}

  std::string field_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  // The value under key, or nothing when it is absent or JSON null.
  bool find(const char* key, JsonbValue& value) const {
    JsonbContainer* container = container_;
    const int length = static_cast<int>(strlen(key));
    JsonbValue* found = pg_call([&]() { return getKeyJsonValueFromContainer(container, key, length, &value); });
    return found != nullptr && value.type != jbvNull;
  }

  std::optional<ObjectView> object(const char* key) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type != jbvBinary || !JsonContainerIsObject(value.val.binary.data))
      throw invalid_field(field_path(key), "expected an object");
    return ObjectView(value.val.binary.data, field_path(key));
  }

  std::optional<std::string> string(const char* key, size_t max_bytes) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type != jbvString) throw invalid_field(field_path(key), "expected a string");
    if (static_cast<size_t>(value.val.string.len) > max_bytes)
      throw invalid_field(field_path(key), "longer than " + std::to_string(max_bytes) + " bytes",
                          sqlstate::kStringDataRightTruncation);
    return std::string(value.val.string.val, value.val.string.len);
  }

  std::string required_string(const char* key, size_t max_bytes) const {
    auto value = string(key, max_bytes);
    if (!value) throw invalid_field(field_path(key), "required");
    return *value;
  }

  // An identifier, as check_id defines it.
  std::optional<std::string> id(const char* key) const {
    auto value = string(key, kMaxIdLength);
    if (value) check_id(field_path(key), *value);
    return value;
  }

  std::optional<Numeric> number(const char* key) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type != jbvNumeric) throw invalid_field(field_path(key), "expected a number");
    return value.val.numeric;
  }

  bool has(const char* key) const {
    JsonbValue value;
    return find(key, value);
  }

  // An RFC 3339 date-time string.
  std::optional<Timestamp> timestamp(const char* key) const {
    auto text = string(key, 64);
    if (!text) return std::nullopt;
    auto parsed = parse_rfc3339(*text);
    if (!parsed)
      throw invalid_field(field_path(key), "expected an ISO 8601 date-time with zone, e.g. 2025-11-21T16:00:01.000Z",
                          sqlstate::kInvalidDatetimeFormat);
    return parsed;
  }

 private:
  JsonbContainer* container_;
  std::string path_;
};

double numeric_to_double(Numeric numeric, const std::string& field) {
  try {
    return pg_call([&]() { return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(numeric))); });
  } catch (const PgError&) {
    throw invalid_field(field, "number out of range", sqlstate::kNumericValueOutOfRange);
  }
}

// message.timestamp: Unix epoch milliseconds.
std::optional<Timestamp> epoch_millis(const ObjectView& message, const char* key) {
  auto number = message.number(key);
  if (!number) return std::nullopt;
  const double millis = numeric_to_double(*number, message.field_path(key));
  // 2000-01-01 .. 2100-01-01: anything else is a unit mistake, not a call.
  constexpr double kMin = 946684800000.0, kMax = 4102444800000.0;
  if (!std::isfinite(millis) || millis < kMin || millis >= kMax)
    throw invalid_field(message.field_path(key), "expected Unix epoch milliseconds between 2000 and 2100",
                        sqlstate::kDatetimeFieldOverflow);
  constexpr double kPostgresEpochMillis = 946684800000.0;  // 2000-01-01 in Unix time
  return static_cast<Timestamp>(std::llround((millis - kPostgresEpochMillis) * 1000.0));
}

// A call cannot end before it starts: the duration would be negative.
void check_order(const ObjectView& object, const std::optional<Timestamp>& started,
                 const std::optional<Timestamp>& ended) {
  if (started && ended && *ended < *started) throw invalid_field(object.field_path("endedAt"), "before startedAt");
}

CallFields read_call(const ObjectView& message, const ObjectView& call) {
  CallFields fields;
  auto id = call.id("id");
  if (!id) throw invalid_field(call.field_path("id"), "required");
  fields.id = *id;
  fields.assistant_id = call.id("assistantId");
  fields.phone_number_id = call.id("phoneNumberId");
  if (!fields.phone_number_id)
    if (auto phone = message.object("phoneNumber")) fields.phone_number_id = phone->id("id");
  fields.type = call.string("type", kMaxShortText);
  if (fields.type && !channel_of_call_type(*fields.type))
    throw invalid_field(call.field_path("type"), "unknown call type");
  auto customer = call.object("customer");
  if (!customer) customer = message.object("customer");
  if (customer) fields.customer_number = customer->string("number", kMaxShortText);
  fields.started_at = call.timestamp("startedAt");
  fields.ended_at = call.timestamp("endedAt");
  check_order(call, fields.started_at, fields.ended_at);
  fields.ended_reason = call.string("endedReason", kMaxShortText);
  return fields;
}

void read_status_update(const ObjectView& message, const char* implied_status, Event& event) {
  if (*implied_status) {
    event.status = implied_status;
  } else {
    event.status = message.required_string("status", kMaxShortText);
    if (status_rank(event.status) < 0)
      throw invalid_field(message.field_path("status"), "unknown call status '" + event.status + "'");
  }
  if (auto reason = message.string("endedReason", kMaxShortText)) event.call.ended_reason = reason;
}

void read_transcript(const ObjectView& message, Event& event) {
  // Vapi's envelope says "role"; the seeds' flat call.transcribed said "speaker".
  auto role = message.string("role", kMaxShortText);
  if (!role) role = message.string("speaker", kMaxShortText);
  if (!role) throw invalid_field(message.field_path("role"), "required");
  if (*role != "assistant" && *role != "user")
    throw invalid_field(message.field_path("role"), "expected 'assistant' or 'user'");
  event.role = *role;
  auto transcript_type = message.string("transcriptType", kMaxShortText);
  if (transcript_type && *transcript_type != "final" && *transcript_type != "partial")
    throw invalid_field(message.field_path("transcriptType"), "expected 'final' or 'partial'");
  // Vapi's plain "transcript" must say which it is; the final-only type name
  // and the seeds' flat form imply final unless they say otherwise.
  if (event.type == "transcript" && !transcript_type)
    throw invalid_field(message.field_path("transcriptType"), "required");
  event.final_transcript = !transcript_type || *transcript_type == "final";
  event.text = message.required_string("transcript", kMaxUtteranceBytes);
}

void read_end_of_call_report(const ObjectView& message, Event& event) {
  if (auto reason = message.string("endedReason", kMaxShortText)) event.call.ended_reason = reason;
  if (auto started = message.timestamp("startedAt")) event.call.started_at = started;
  if (auto ended = message.timestamp("endedAt")) event.call.ended_at = ended;
  check_order(message, event.call.started_at, event.call.ended_at);
  if (auto cost = message.number("cost")) {
    const double value = numeric_to_double(*cost, message.field_path("cost"));
    if (!std::isfinite(value) || value < 0 || value >= 1e9)
      throw invalid_field(message.field_path("cost"), "expected USD between 0 and 1e9",
                          sqlstate::kNumericValueOutOfRange);
    Numeric numeric = *cost;
    char* text = pg_call([&]() { return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(numeric))); });
    event.cost = std::string(text);
  }
  if (auto artifact = message.object("artifact")) {
    event.transcript = artifact->string("transcript", kMaxDocumentBytes);
    if (auto recording = artifact->object("recording"))
      if (auto mono = recording->object("mono")) event.recording_url = mono->string("combinedUrl", kMaxUrlLength);
    // artifact.recordingUrl is deprecated by Vapi but still sent by older setups.
    if (!event.recording_url) event.recording_url = artifact->string("recordingUrl", kMaxUrlLength);
  }
  if (auto analysis = message.object("analysis")) {
    event.summary = analysis->string("summary", kMaxDocumentBytes);
    event.outcome = analysis->string("successEvaluation", kMaxShortText);
  }
  // The seeds' flat end-of-call-report carried these at the top level.
  if (!event.summary) event.summary = message.string("summary", kMaxDocumentBytes);
  if (!event.transcript) event.transcript = message.string("transcript", kMaxDocumentBytes);
  if (!event.recording_url) event.recording_url = message.string("recordingUrl", kMaxUrlLength);
}

}  // namespace

Event read_event(Jsonb* payload) {
  if (!JB_ROOT_IS_OBJECT(payload)) throw invalid_field("payload", "expected a JSON object");
  ObjectView root(&payload->root, "");
  // Vapi's envelope {"message": {...}}, or the seeds' flat form {"type": ...}.
  std::optional<ObjectView> enveloped = root.object("message");
  if (!enveloped && !root.has("type")) throw invalid_field("message", "required");
  const ObjectView message = enveloped ? *enveloped : root;

  Event event;
  event.type = message.required_string("type", kMaxShortText);
  const KindOfType kind = kind_of_type(event.type);
  event.kind = kind.kind;
  event.timestamp = epoch_millis(message, "timestamp");
  if (event.kind == EventKind::kAcknowledged) return event;

  if (auto call = message.object("call")) {
    event.has_call = true;
    event.call = read_call(message, *call);
  } else if (event.kind != EventKind::kAssistantRequest) {
    throw invalid_field(message.field_path("call"), "required");
  }

  switch (event.kind) {
    case EventKind::kStatusUpdate:
      read_status_update(message, kind.implied_status, event);
      break;
    case EventKind::kTranscript:
      read_transcript(message, event);
      break;
    case EventKind::kEndOfCallReport:
      read_end_of_call_report(message, event);
      break;
    case EventKind::kAssistantRequest:
      if (auto phone = message.object("phoneNumber")) {
        if (!event.has_call) event.call.phone_number_id = phone->id("id");
        event.dialled_number = phone->string("number", kMaxShortText);
      }
      break;
    case EventKind::kAcknowledged:
      break;
  }
  return event;
}

bool read_is_test_call(Jsonb* metadata) {
  if (!JB_ROOT_IS_OBJECT(metadata)) throw invalid_field("metadata", "expected a JSON object");
  ObjectView view(&metadata->root, "metadata");
  JsonbValue value;
  if (!view.find("is_test_call", value)) return false;
  if (value.type != jbvBool) throw invalid_field("metadata.is_test_call", "expected a boolean");
  return value.val.boolean;
}

}  // namespace vox
