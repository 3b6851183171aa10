#include "event_reader.hpp"

#include <cmath>
#include <string>

extern "C" {
#include "utils/builtins.h"
#include "utils/numeric.h"
}

namespace vox {

namespace {

std::string numeric_text(Numeric numeric) {
  return pg_call([&]() { return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(numeric))); });
}

// A value as JSON text, cut to kMaxNotedValueBytes: a note shows what came,
// it does not archive it. A longer value becomes a JSON string holding the
// start of its JSON text and an ellipsis.
std::string raw_json(const JsonbValue& value) {
  std::string text = pg_call([&]() {
    if (value.type == jbvBinary) return JsonbToCString(nullptr, value.val.binary.data, value.val.binary.len);
    JsonbValue copy = value;
    Jsonb* scalar = JsonbValueToJsonb(&copy);
    return JsonbToCString(nullptr, &scalar->root, VARSIZE(scalar));
  });
  if (text.size() <= kMaxNotedValueBytes) return text;
  static const std::string kEllipsis = "…";
  size_t cut = kMaxNotedValueBytes - kEllipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
  std::string prefix;
  append_json_string(prefix, text.substr(0, cut) + kEllipsis);
  return prefix;
}

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

  // Optional fields vox can do without: a value it cannot use is noted with
  // its raw JSON and read as absent, never refusing the event.
  void note(const char* key, const JsonbValue& value, std::string problem, std::vector<Note>& notes) const {
    notes.push_back({field_path(key), std::move(problem), raw_json(value)});
  }

  std::optional<ObjectView> noted_object(const char* key, std::vector<Note>& notes) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type != jbvBinary || !JsonContainerIsObject(value.val.binary.data)) {
      note(key, value, "expected an object", notes);
      return std::nullopt;
    }
    return ObjectView(value.val.binary.data, field_path(key));
  }

  std::optional<std::string> noted_string(const char* key, size_t max_bytes, std::vector<Note>& notes) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type != jbvString) {
      note(key, value, "expected a string", notes);
      return std::nullopt;
    }
    if (static_cast<size_t>(value.val.string.len) > max_bytes) {
      note(key, value, "longer than " + std::to_string(max_bytes) + " bytes", notes);
      return std::nullopt;
    }
    return std::string(value.val.string.val, value.val.string.len);
  }

  std::optional<Timestamp> noted_timestamp(const char* key, std::vector<Note>& notes) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    std::optional<Timestamp> parsed;
    if (value.type == jbvString && value.val.string.len <= 64)
      parsed = parse_rfc3339(std::string(value.val.string.val, value.val.string.len));
    if (!parsed) note(key, value, "expected an RFC 3339 date-time with zone between 2000 and 2099", notes);
    return parsed;
  }

  // A string kept whatever its JSON scalar type: Vapi's rubrics evaluate to
  // numbers and booleans as well as words.
  std::optional<std::string> noted_scalar_text(const char* key, size_t max_bytes, std::vector<Note>& notes) const {
    JsonbValue value;
    if (!find(key, value)) return std::nullopt;
    if (value.type == jbvBool) return std::string(value.val.boolean ? "true" : "false");
    if (value.type == jbvNumeric) return numeric_text(value.val.numeric);
    return noted_string(key, max_bytes, notes);
  }

  // An array's length, nullopt when absent or not an array.
  std::optional<int64_t> array_length(const char* key) const {
    JsonbValue value;
    if (!find(key, value) || value.type != jbvBinary || !JsonContainerIsArray(value.val.binary.data))
      return std::nullopt;
    return JsonContainerSize(value.val.binary.data);
  }

  bool has(const char* key) const {
    JsonbValue value;
    return find(key, value);
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

// A call cannot end before it starts: an end before the start (clock skew of
// a few milliseconds, in practice) is clamped to the start, so the duration
// is 0 rather than negative, and the raw end is noted.
void clamp_end(const ObjectView& object, const std::optional<Timestamp>& started, std::optional<Timestamp>& ended,
               std::vector<Note>& notes) {
  if (!started || !ended || *ended >= *started) return;
  JsonbValue value;
  if (!object.find("endedAt", value)) value.type = jbvNull;  // a report's end taken from its call
  object.note("endedAt", value, "before startedAt: ended_at clamped to started_at", notes);
  ended = started;
}

// A cost in USD as numeric text; one out of range is noted.
std::optional<std::string> noted_cost(const ObjectView& object, std::vector<Note>& notes) {
  JsonbValue value;
  if (!object.find("cost", value)) return std::nullopt;
  if (value.type != jbvNumeric) {
    object.note("cost", value, "expected a number", notes);
    return std::nullopt;
  }
  double usd = 0;
  try {
    usd = numeric_to_double(value.val.numeric, object.field_path("cost"));
  } catch (const SqlError&) {
    usd = -1;  // beyond a double: out of range below
  }
  if (!std::isfinite(usd) || usd < 0 || usd >= 1e9) {
    object.note("cost", value, "expected USD between 0 and 1e9", notes);
    return std::nullopt;
  }
  return numeric_text(value.val.numeric);
}

CallFields read_call(const ObjectView& message, const ObjectView& call, std::vector<Note>& notes) {
  CallFields fields;
  auto id = call.id("id");
  if (!id) throw invalid_field(call.field_path("id"), "required");
  fields.id = *id;
  // Routing fields stay strict: a wrong one could file the call under
  // another tenant.
  fields.assistant_id = call.id("assistantId");
  fields.phone_number_id = call.id("phoneNumberId");
  if (!fields.phone_number_id)
    if (auto phone = message.object("phoneNumber")) fields.phone_number_id = phone->id("id");
  fields.type = call.noted_string("type", kMaxShortText, notes);
  if (fields.type && !channel_of_call_type(*fields.type)) {
    JsonbValue value;
    call.find("type", value);
    call.note("type", value, "unknown call type: channel left unknown", notes);
  }
  auto customer = call.noted_object("customer", notes);
  if (!customer) customer = message.noted_object("customer", notes);
  if (customer) {
    fields.customer_number = customer->noted_string("number", kMaxShortText, notes);
    fields.customer_sip_uri = customer->noted_string("sipUri", kMaxUrlLength, notes);
  }
  fields.started_at = call.noted_timestamp("startedAt", notes);
  fields.ended_at = call.noted_timestamp("endedAt", notes);
  clamp_end(call, fields.started_at, fields.ended_at, notes);
  fields.ended_reason = call.noted_string("endedReason", kMaxShortText, notes);
  fields.cost = noted_cost(call, notes);
  return fields;
}

void read_status(const ObjectView& message, const char* implied_status, Event& event) {
  if (*implied_status) {
    event.status = implied_status;
  } else {
    event.status = message.required_string("status", kMaxShortText);
    if (status_rank(event.status) < 0)
      throw invalid_field(message.field_path("status"), "unknown call status '" + event.status + "'");
  }
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
  if (auto artifact = message.noted_object("artifact", event.notes)) event.artifact_messages = artifact->array_length("messages");
}

void read_end_of_call_report(const ObjectView& message, Event& event) {
  std::vector<Note>& notes = event.notes;
  if (auto reason = message.noted_string("endedReason", kMaxShortText, notes)) event.call.ended_reason = reason;
  if (auto started = message.noted_timestamp("startedAt", notes)) event.call.started_at = started;
  if (auto ended = message.noted_timestamp("endedAt", notes)) event.call.ended_at = ended;
  clamp_end(message, event.call.started_at, event.call.ended_at, notes);
  // The report's own cost, else the call's (Vapi documents them as the same).
  event.cost = noted_cost(message, notes);
  if (!event.cost) event.cost = event.call.cost;
  if (auto artifact = message.noted_object("artifact", notes)) {
    event.transcript = artifact->noted_string("transcript", kMaxDocumentBytes, notes);
    if (auto recording = artifact->noted_object("recording", notes)) {
      if (auto mono = recording->noted_object("mono", notes))
        event.recording_url = mono->noted_string("combinedUrl", kMaxUrlLength, notes);
      if (!event.recording_url) event.recording_url = recording->noted_string("stereoUrl", kMaxUrlLength, notes);
    }
    // Deprecated by Vapi but still sent by older setups.
    if (!event.recording_url) event.recording_url = artifact->noted_string("recordingUrl", kMaxUrlLength, notes);
    if (!event.recording_url)
      event.recording_url = artifact->noted_string("stereoRecordingUrl", kMaxUrlLength, notes);
  }
  if (auto analysis = message.noted_object("analysis", notes)) {
    event.summary = analysis->noted_string("summary", kMaxDocumentBytes, notes);
    event.outcome = analysis->noted_scalar_text("successEvaluation", kMaxShortText, notes);
  }
  // The seeds' flat end-of-call-report carried these at the top level.
  if (!event.summary) event.summary = message.noted_string("summary", kMaxDocumentBytes, notes);
  if (!event.transcript) event.transcript = message.noted_string("transcript", kMaxDocumentBytes, notes);
  if (!event.recording_url) event.recording_url = message.noted_string("recordingUrl", kMaxUrlLength, notes);
}

// The ids of the tool calls a tool-calls message asks for (each is answered
// with an error: vox runs no tools). Entries without a usable id are skipped.
void read_tool_call_ids(const ObjectView& message, Event& event) {
  JsonbValue list;
  if (!message.find("toolCallList", list) || list.type != jbvBinary || !JsonContainerIsArray(list.val.binary.data))
    return;
  JsonbContainer* container = list.val.binary.data;
  const uint32 count = JsonContainerSize(container);
  for (uint32 i = 0; i < count; ++i) {
    JsonbValue* item = pg_call([&]() { return getIthJsonbValueFromContainer(container, i); });
    if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data)) continue;
    ObjectView call(item->val.binary.data, message.field_path("toolCallList"));
    JsonbValue id;
    if (call.find("id", id) && id.type == jbvString && static_cast<size_t>(id.val.string.len) <= kMaxIdLength)
      event.tool_call_ids.emplace_back(id.val.string.val, id.val.string.len);
  }
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
  if (event.type == "tool-calls") read_tool_call_ids(message, event);
  if (event.kind == EventKind::kAcknowledged) return event;

  if (event.kind == EventKind::kStatusUpdate) read_status(message, kind.implied_status, event);
  if (auto call = message.object("call")) {
    event.has_call = true;
    event.call = read_call(message, *call, event.notes);
  } else if (event.kind == EventKind::kStatusUpdate && status_rank(event.status) == 0) {
    return event;  // a status vox does not store needs no call: Vapi sends not-found without one
  } else if (event.kind != EventKind::kAssistantRequest) {
    throw invalid_field(message.field_path("call"), "required");
  }

  switch (event.kind) {
    case EventKind::kStatusUpdate:
      if (auto reason = message.noted_string("endedReason", kMaxShortText, event.notes))
        event.call.ended_reason = reason;
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

const char* counted_type(Jsonb* payload) noexcept {
  try {
    if (!JB_ROOT_IS_OBJECT(payload)) return "other";
    ObjectView root(&payload->root, "");
    std::optional<ObjectView> enveloped = root.object("message");
    auto type = (enveloped ? *enveloped : root).string("type", kMaxShortText);
    const KindOfType kind = type ? kind_of_type(*type) : KindOfType{EventKind::kAcknowledged, "", false};
    return kind.kind == EventKind::kAcknowledged ? "other" : canonical_type(kind.kind);
  } catch (...) {
    return "other";
  }
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
