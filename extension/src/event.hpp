// The event model: what vox reads out of a Vapi server message, and the pure
// rules applied to it (message kinds, status lifecycle, idempotency keys).
// Plain C++: nothing here knows about PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vox {

enum class EventKind {
  kStatusUpdate,
  kTranscript,
  kEndOfCallReport,
  kAssistantRequest,
  kAcknowledged,  // known or future types that are counted but not stored
};

// Timestamps are microseconds since 2000-01-01 UTC, PostgreSQL's TimestampTz.
using Timestamp = int64_t;

// An optional field vox could not use as sent (wrong JSON type, out of range,
// unknown value): the event is applied without it, and the note, with the
// raw value, is kept on the call's row and counted.
struct Note {
  std::string field;    // its path, e.g. message.analysis.successEvaluation
  std::string problem;  // what was wrong
  std::string value;    // the raw value as JSON, at most kMaxNotedValueBytes
};

struct CallFields {
  std::string id;
  std::optional<std::string> assistant_id;
  std::optional<std::string> phone_number_id;
  std::optional<std::string> type;             // Vapi call.type
  std::optional<std::string> customer_number;  // raw, as the caller id arrived
  std::optional<std::string> customer_sip_uri;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> ended_at;
  std::optional<std::string> ended_reason;
  std::optional<std::string> cost;  // call.cost, numeric as text
};

struct Event {
  EventKind kind = EventKind::kAcknowledged;
  std::string type;  // the message type as sent (legacy names included)
  bool has_call = false;
  CallFields call;
  std::optional<Timestamp> timestamp;         // message.timestamp
  std::optional<std::string> dialled_number;  // message.phoneNumber.number (assistant-request)
  std::vector<Note> notes;
  std::vector<std::string> tool_call_ids;  // tool-calls: toolCallList[].id

  // status-update
  std::string status;

  // transcript
  std::string role;
  std::string text;
  bool final_transcript = false;
  // How many messages the transcript's live artifact.messages held: the
  // utterance's place in the call, its key when it has no timestamp.
  std::optional<int64_t> artifact_messages;

  // end-of-call-report
  std::optional<std::string> summary;
  std::optional<std::string> transcript;
  std::optional<std::string> recording_url;
  std::optional<std::string> outcome;
  std::optional<std::string> cost;  // numeric, as text
};

// What a message type means to vox. Legacy flat names map onto the same
// kinds; status names the status a legacy type implies ("" if none).
struct KindOfType {
  EventKind kind;
  const char* implied_status;
  bool known;
};
KindOfType kind_of_type(const std::string& type);

// The name vox stores for a kind, whatever form the message came in.
const char* canonical_type(EventKind kind);

// Statuses vox stores, in lifecycle order; 0 for statuses it acknowledges
// without storing (not-found, deletion-failed) and -1 for unknown ones.
int status_rank(const std::string& status);

// Vapi call.type to vox's channel; nullopt for an unknown type.
std::optional<std::string> channel_of_call_type(const std::string& call_type);

// The idempotency key of an event that changes rows: stable across retries and
// independent of the tenant (parked events are keyed before one is known).
std::string event_key(const Event& event, const std::optional<std::string>& delivery_id);

// The part of a transcript's key that identifies the utterance within its call.
std::string transcript_content_key(const Event& event, const std::optional<std::string>& delivery_id);

// Limits on what one event may carry, checked before anything is written.
inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxShortText = 1000;  // ended reasons, roles, outcomes
inline constexpr size_t kMaxUrlLength = 4096;
inline constexpr size_t kMaxUtteranceBytes = 64 * 1024;
inline constexpr size_t kMaxDocumentBytes = 4 * 1024 * 1024;  // summary, full transcript
inline constexpr size_t kMaxNotedValueBytes = 256;             // a note's copy of a raw value

// An RFC 3339 date-time, the form Vapi sends ("2025-11-21T16:00:01.000Z",
// "2025-11-21T18:00:01+02:00"): date, time, optional fraction and a required
// zone. Years 2000 to 2099. nullopt for anything else; unlike PostgreSQL's
// input function, no DateStyle reading, no "epoch", "now" or "infinity".
std::optional<Timestamp> parse_rfc3339(const std::string& text);

// Throws unless value is a usable identifier (1 to kMaxIdLength printable
// ASCII characters, no spaces); field names it in the error.
void check_id(const std::string& field, const std::string& value);

// Appends s to out as a JSON string literal.
void append_json_string(std::string& out, const std::string& s);

}  // namespace vox
