// Applying events: tenant resolution, the idempotency mark, the effects on
// call rows, parking and replay. Runs inside an SPI connection; every write
// of one call happens in the caller's transaction.
#pragma once

#include <optional>
#include <string>

#include "spi.hpp"

namespace vox {

struct Outcome {
  Outcome(std::string status_, std::string event_type_)
      : status(std::move(status_)), event_type(std::move(event_type_)) {}
  std::string status;  // processed | duplicate | ignored | parked | registered
  std::string event_type;
  std::optional<std::string> event_id;
  std::optional<Uuid> org_id;
  std::optional<std::string> vapi_call_id;
  std::optional<std::string> reason;        // why ignored or parked
  std::optional<std::string> assistant_id;  // the answer to an assistant-request
  // What the sender must be answered, exactly in Vapi's response shape (a
  // JSON object): assistant-request, tool-calls, transfer-destination-request,
  // knowledge-base-request. The shim sends it as the HTTP body.
  std::optional<std::string> response;
  size_t notes = 0;                         // fields noted rather than used (not in to_json)
  std::string to_json() const;
};

// What to do with an event whose tenant cannot be resolved yet: park it,
// report it (a replay), or, where the coordinator resolved its org and had
// it applied on the org's node (vox.apply_resolved), refuse it as a lost race
// (40001) and leave the replays the new call allows to the coordinator,
// whose transaction holds the parked rows.
enum class Unresolved { kPark, kReport, kRetry };

// signer: the org whose secret signed the request, when the request named
// one. The event may then only resolve to that org; one naming another org's
// assistant or phone number is refused with 22023.
Outcome apply_event(Jsonb* payload, const std::optional<std::string>& delivery_id, const std::optional<Uuid>& signer,
                    Unresolved unresolved);

struct OutboundCall {
  Uuid org_id;
  std::string vapi_call_id;
  std::optional<Uuid> agent_id;
  std::optional<Uuid> lead_id;
  Jsonb* metadata;  // a JSON object
  bool is_test_call;
};

// Creates or completes the call's rows; a call new to vox gets its parked
// events applied.
Outcome register_outbound_call(const OutboundCall& call);

// Which parked events a replay considers: all, those naming one assistant or
// phone number, or those a call org_id has just created may resolve (what
// has just become resolvable).
enum class ReplayScope { kAll, kNewCall, kAssistant, kPhoneNumber };

// Applies the parked events in scope that can now be resolved, oldest first,
// each in its own subtransaction so one bad event cannot block the rest.
// Returns how many were applied.
int64_t replay_parked(ReplayScope scope = ReplayScope::kAll, const std::string& key = "",
                      const std::optional<Uuid>& org_id = std::nullopt);

// Bounds of a sweep (ReplayScope::kAll): at most max_events events examined
// (0: no bound), and only those not attempted since attempted_before.
struct Sweep {
  int64_t max_events = 0;
  std::optional<Timestamp> attempted_before;
};
struct Replayed {
  int64_t examined = 0;  // events tried, applied or not
  int64_t applied = 0;   // nested replays included
};
Replayed replay_parked(ReplayScope scope, const std::string& key, const std::optional<Uuid>& org_id,
                       const Sweep& sweep);

}  // namespace vox
