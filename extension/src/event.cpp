#include "event.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

#include "sql_error.hpp"

namespace vox {

KindOfType kind_of_type(const std::string& type) {
  if (type == "status-update") return {EventKind::kStatusUpdate, "", true};
  // Vapi's schema spells the final-only type with double quotes, its web
  // SDK's types with single quotes.
  if (type == "transcript" || type == "transcript[transcriptType=\"final\"]" ||
      type == "transcript[transcriptType='final']")
    return {EventKind::kTranscript, "", true};
  if (type == "end-of-call-report") return {EventKind::kEndOfCallReport, "", true};
  if (type == "assistant-request") return {EventKind::kAssistantRequest, "", true};
  // The seeds' flat form.
  if (type == "call.started") return {EventKind::kStatusUpdate, "in-progress", true};
  if (type == "call.ended") return {EventKind::kStatusUpdate, "ended", true};
  if (type == "call.transcribed") return {EventKind::kTranscript, "", true};
  // clang-format off
  static const char* const acknowledged[] = {
      "speech-update", "conversation-update", "hang", "tool-calls", "function-call",
      "user-interrupted", "model-output", "phone-call-control", "transfer-destination-request",
      "transfer-update", "handoff-destination-request", "knowledge-base-request",
      "language-change-detected", "voice-input", "assistant.started", "assistant.speechStarted",
      "voice-request", "call.endpointing.request", "chat.created", "chat.deleted",
      "session.created", "session.updated", "session.deleted", "call.deleted",
      "call.delete.failed", "call.artifact.upload", "campaign.predial"};
  // clang-format on
  for (const char* known : acknowledged)
    if (type == known) return {EventKind::kAcknowledged, "", true};
  // Vapi adds message types over time; refusing them would only make it retry.
  return {EventKind::kAcknowledged, "", false};
}

const char* canonical_type(EventKind kind) {
  switch (kind) {
    case EventKind::kStatusUpdate:
      return "status-update";
    case EventKind::kTranscript:
      return "transcript";
    case EventKind::kEndOfCallReport:
      return "end-of-call-report";
    case EventKind::kAssistantRequest:
      return "assistant-request";
    case EventKind::kAcknowledged:
      break;
  }
  return "acknowledged";
}

int status_rank(const std::string& status) {
  static const char* const lifecycle[] = {"scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"};
  for (int i = 0; i < 6; ++i)
    if (status == lifecycle[i]) return i + 1;
  if (status == "not-found" || status == "deletion-failed") return 0;
  return -1;
}

std::optional<std::string> channel_of_call_type(const std::string& call_type) {
  if (call_type == "inboundPhoneCall") return "inbound";
  if (call_type == "outboundPhoneCall") return "outbound";
  if (call_type == "webCall" || call_type == "vapi.websocketCall") return "web";
  return std::nullopt;
}

namespace {

std::string sha256_hex(const std::string& data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // Fetched once: OpenSSL 3 otherwise looks the algorithm up in its provider
  // tables on every digest, which costs more than hashing a transcript line.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr ||
      EVP_Digest(data.data(), data.size(), digest.data(), &length, sha256, nullptr) != 1)
    throw SqlError(sqlstate::kExternalRoutineException, "vox: SHA-256 digest failed");
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string transcript_content_key(const Event& event, const std::optional<std::string>& delivery_id) {
  // NUL separators: no role, text or timestamp can forge another's boundary.
  std::string material = event.role;
  material.push_back('\0');
  material += event.text;
  material.push_back('\0');
  // What tells a retry (same key) from the same words said again (another
  // key): the utterance's own timestamp, else the delivery id, else its place
  // in the call's messages; with none of them, the words alone, so a repeat
  // of the same words without any is stored once rather than refused.
  if (event.timestamp) {
    material += "t" + std::to_string(*event.timestamp);
  } else if (delivery_id) {
    material += "d" + *delivery_id;
  } else if (event.artifact_messages) {
    material += "n" + std::to_string(*event.artifact_messages);
  }
  return sha256_hex(material).substr(0, 32);
}

std::string event_key(const Event& event, const std::optional<std::string>& delivery_id) {
  switch (event.kind) {
    case EventKind::kStatusUpdate:
      // No duration or timestamp in the key: a retry of "ended" must collide.
      return "status-update:" + event.call.id + ":" + event.status;
    case EventKind::kTranscript:
      return "transcript:" + event.call.id + ":" + transcript_content_key(event, delivery_id);
    case EventKind::kEndOfCallReport:
      return "end-of-call-report:" + event.call.id;
    case EventKind::kAssistantRequest:
    case EventKind::kAcknowledged:
      break;
  }
  throw SqlError(sqlstate::kExternalRoutineException, "vox: event kind without effects has no key");
}

namespace {

// Reads exactly count digits at pos into value.
bool read_digits(const std::string& text, size_t& pos, int count, int& value) {
  value = 0;
  for (int i = 0; i < count; ++i, ++pos) {
    if (pos >= text.size() || text[pos] < '0' || text[pos] > '9') return false;
    value = value * 10 + (text[pos] - '0');
  }
  return true;
}

bool expect(const std::string& text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2;
  const int64_t era = year / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

}  // namespace

std::optional<Timestamp> parse_rfc3339(const std::string& text) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!read_digits(text, pos, 4, year) || !expect(text, pos, '-') || !read_digits(text, pos, 2, month) ||
      !expect(text, pos, '-') || !read_digits(text, pos, 2, day))
    return std::nullopt;
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) return std::nullopt;
  ++pos;
  if (!read_digits(text, pos, 2, hour) || !expect(text, pos, ':') || !read_digits(text, pos, 2, minute) ||
      !expect(text, pos, ':') || !read_digits(text, pos, 2, second))
    return std::nullopt;
  if (year < 2000 || year > 2099 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour > 23 || minute > 59 || second > 59)
    return std::nullopt;
  int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits)
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
    if (digits == 0) return std::nullopt;
    for (; digits < 6; ++digits) micros *= 10;  // beyond microseconds: truncated
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours, offset_minutes;
    if (!read_digits(text, pos, 2, offset_hours)) return std::nullopt;
    expect(text, pos, ':');
    if (!read_digits(text, pos, 2, offset_minutes) || offset_hours > 23 || offset_minutes > 59) return std::nullopt;
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return std::nullopt;  // no zone: the instant would be a guess
  }
  if (pos != text.size()) return std::nullopt;
  constexpr int64_t kPostgresEpochDays = 10957;  // 2000-01-01 in days since 1970-01-01
  const int64_t days = days_from_civil(year, month, day) - kPostgresEpochDays;
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return seconds * 1000000 + micros;
}

void check_id(const std::string& field, const std::string& value) {
  if (value.empty()) throw invalid_field(field, "must not be empty");
  if (value.size() > kMaxIdLength)
    throw invalid_field(field, "longer than " + std::to_string(kMaxIdLength) + " bytes",
                        sqlstate::kStringDataRightTruncation);
  for (unsigned char c : value)
    if (c <= 0x20 || c >= 0x7f) throw invalid_field(field, "must be printable ASCII without spaces");
}

void append_json_string(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace vox
