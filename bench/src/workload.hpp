// The benchmark's workload: Vapi server messages for many calls spread over
// the orgs, generated deterministically from a seed. Per call: status-update
// queued, ringing, in-progress, about ten final transcripts, ended, and the
// end-of-call-report; some deliveries duplicated, some swapped with the next.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// The tenants. The setup SQL (database.cpp) creates the same ones from the
// same formulas: org i has id org_uuid(i), agent assistant_id(i) and phone
// number phone_number_id(i).
constexpr int kOrgs = 50;
std::string org_uuid(int org);
std::string assistant_id(int org);
std::string phone_number_id(int org);
// Callers of org i are customer_number(i, k) for k in [0, kCallersPerOrg);
// the first kLeadsPerOrg of them are the org's leads.
constexpr int kCallersPerOrg = 4000;
constexpr int kLeadsPerOrg = 1000;
std::string customer_number(int org, int k);

struct WorkloadSpec {
  uint64_t seed = 1;
  int first_call = 0;  // calls first_call .. first_call + calls - 1
  int calls = 100;
  double duplicate_rate = 0.05;
  double reorder_rate = 0.05;
};

struct Delivery {
  int call;       // index of the call
  int org;        // index of its org
  int64_t at_ms;  // when it is delivered: orders deliveries across calls
  std::string body;
};

// Every delivery of the spec's calls, in delivery order. A call's deliveries
// keep their relative order, whatever the calls are split into afterwards.
std::vector<Delivery> generate(const WorkloadSpec& spec);

// Deliveries of each of `threads` connections: a call's deliveries all go to
// one connection (call % threads), in delivery order.
std::vector<std::vector<const Delivery*>> split_by_call(const std::vector<Delivery>& deliveries, int threads);

}  // namespace bench
