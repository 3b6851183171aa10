// libFuzzer target: what the shim parses from configuration it is handed and
// from a request's headers. The input reads like an HTTP request, so that
// seeds stay readable and mutations stay meaningful:
//
//   line 1        a secret list, as vox.webhook_secrets_for() returns it
//   name: value   request headers (x-peer and x-trusted-proxies feed client_ip)
//   empty line    then the body
//
// Besides crashes and sanitizer reports, the documented contracts of
// parse_secret_list, verify, split_addresses and client_ip are checked.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth.hpp"
#include "client_ip.hpp"
#include "secrets.hpp"

namespace {

// A broken property aborts, so libFuzzer saves the input as crash-*.
void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

struct Request {
  std::string secrets_json;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
};

Request parse_input(std::string_view input) {
  Request request;
  size_t end = input.find('\n');
  request.secrets_json = std::string(input.substr(0, end));
  while (end != std::string_view::npos) {
    const size_t start = end + 1;
    end = input.find('\n', start);
    const std::string_view line = input.substr(start, end == std::string_view::npos ? end : end - start);
    if (line.empty()) {
      if (end != std::string_view::npos) request.body = std::string(input.substr(end + 1));
      break;
    }
    // httplib's reading: name up to the first ':', leading blanks of the value skipped.
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    request.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  }
  return request;
}

// Case-insensitive, the first of repeated headers: as httplib's get_header_value.
std::optional<std::string> find_header(const Request& request, std::string_view name) {
  const std::string key = lower(name);
  for (const auto& [header, value] : request.headers)
    if (header == key) return value;
  return std::nullopt;
}

std::optional<std::string> parse_error(const nlohmann::json& entry) {
  try {
    shim::parse_secret(entry);
    return std::nullopt;
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// Error messages name fields, never quote a secret: an entry's message is the
// one it gets with its secret swapped for a stand-in of the same validity
// (base64 or not, empty or not).
void check_error_hides_secret(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("secret") || !entry["secret"].is_string()) return;
  const std::optional<std::string> message = parse_error(entry);
  nlohmann::json stand_in = entry;
  for (const char* value : {"whsec_c3RhbmQtaW4ta2V5LTAx", "stand-in, not base64", ""}) {
    stand_in["secret"] = value;
    if (parse_error(stand_in) == message) return;
  }
  require(false, "errors never depend on a secret's value");
}

std::vector<shim::Secret> parse_secrets(const std::string& json) {
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  if (parsed.is_array()) {
    for (const nlohmann::json& entry : parsed) check_error_hides_secret(entry);
  }
  size_t skipped_count = 0;
  const std::vector<shim::Secret> secrets =
      shim::parse_secret_list(json, [&](size_t, const std::string&) { ++skipped_count; });
  if (parsed.is_array()) {
    require(secrets.size() + skipped_count == parsed.size(), "each entry is parsed or skipped");
  } else {
    require(secrets.empty() && skipped_count == 1, "a list that is not an array is one refusal");
  }
  for (const shim::Secret& secret : secrets) require(!secret.secret.empty(), "no parsed secret is empty");
  return secrets;
}

const std::set<std::string> kReasons = {"missing_signature", "bad_signature",    "missing_timestamp", "bad_timestamp",
                                        "stale_timestamp",   "future_timestamp", "no_secret"};

void check_verify(const Request& request, const std::vector<shim::Secret>& secrets) {
  const shim::HeaderLookup header = [&](std::string_view name) { return find_header(request, name); };
  // A fixed now keeps every run reproducible; 86400 is the largest tolerance
  // the configuration allows.
  const shim::Verdict verdict = shim::verify(secrets, header, request.body, 1'763'740'800, 86'400);
  if (verdict.ok) {
    require(verdict.reason.empty() && !secrets.empty(), "an acceptance has a secret and no reason");
  } else {
    require(kReasons.count(verdict.reason) == 1 && !verdict.delivery_id,
            "a refusal has a documented reason and no delivery id");
  }
  if (secrets.empty()) require(verdict.reason == "no_secret", "without secrets the reason is no_secret");
}

bool blank(char c) { return c == ' ' || c == '\t'; }

void check_client_ip(const Request& request) {
  const std::string peer = find_header(request, "x-peer").value_or("");
  const std::string forwarded = find_header(request, "x-forwarded-for").value_or("");
  const std::vector<std::string> trusted =
      shim::split_addresses(find_header(request, "x-trusted-proxies").value_or(""));
  const std::vector<std::string> hops = shim::split_addresses(forwarded);
  for (const std::string& hop : hops) {
    require(!hop.empty() && hop.find(',') == std::string::npos && !blank(hop.front()) && !blank(hop.back()),
            "forwarded addresses are split and trimmed");
  }
  const std::string client = shim::client_ip(peer, forwarded, trusted);
  const bool peer_trusted = std::find(trusted.begin(), trusted.end(), peer) != trusted.end();
  if (!peer_trusted || hops.empty()) {
    require(client == peer, "without a header to believe, the client is the peer");
  } else if (client != peer) {
    require(shim::canonical_address(client) == client, "a forwarded client is an address in canonical form");
    // A proxy's address is the answer only when every hop is a proxy.
    const auto is_trusted = [&](const std::string& hop) {
      return std::find(trusted.begin(), trusted.end(), hop) != trusted.end();
    };
    const bool all_trusted = std::all_of(hops.begin(), hops.end(), is_trusted);
    require(std::any_of(hops.begin(), hops.end(),
                        [&](const std::string& hop) {
                          return (all_trusted || !is_trusted(hop)) && shim::canonical_address(hop) == client;
                        }),
            "the client is a forwarded hop, not a proxy unless every hop is");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Request request = parse_input(std::string_view(reinterpret_cast<const char*>(data), size));
  check_verify(request, parse_secrets(request.secrets_json));
  check_client_ip(request);
  return 0;
}
