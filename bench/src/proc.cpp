#include "proc.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace bench {

Rss read_rss(int pid) {
  Rss rss;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  auto field = [&line](const char* key, long& out) {
    const std::string prefix = key;
    if (line.compare(0, prefix.size(), prefix) == 0) out = std::stol(line.substr(prefix.size()));
  };
  while (std::getline(status, line)) {
    field("VmRSS:", rss.rss_kb);
    field("VmHWM:", rss.hwm_kb);
    field("RssAnon:", rss.anon_kb);
    field("RssShmem:", rss.shmem_kb);
  }
  return rss;
}

namespace {

// /proc/PID/stat from field 3 on, after the command name (which may hold
// spaces): field N is at N - 3. Empty once the process is gone.
std::vector<std::string> stat_fields(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::vector<std::string> fields;
  if (!std::getline(stat, line)) return fields;
  std::istringstream words(line.substr(line.rfind(')') + 2));
  for (std::string word; words >> word;) fields.push_back(word);
  return fields;
}

long stat_field(const std::vector<std::string>& fields, int number) {
  return std::stol(fields.at(static_cast<size_t>(number - 3)));
}

double ticks_to_seconds(long ticks) { return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK)); }

// utime and stime are fields 14 and 15; cutime and cstime, those of the
// children it has waited for, 16 and 17.
constexpr int kUtime = 14, kStime = 15, kCutime = 16, kCstime = 17, kParent = 4;

}  // namespace

double cpu_seconds(int pid) {
  const std::vector<std::string> fields = stat_fields(pid);
  if (fields.empty()) return 0;
  return ticks_to_seconds(stat_field(fields, kUtime) + stat_field(fields, kStime));
}

int parent_pid(int pid) {
  const std::vector<std::string> fields = stat_fields(pid);
  return fields.empty() ? 0 : static_cast<int>(stat_field(fields, kParent));
}

double server_cpu_seconds(int postmaster_pid) {
  // A child reaped while the children are read would count twice or not at
  // all: read again until the reaped children's total stands still.
  for (;;) {
    const std::vector<std::string> before = stat_fields(postmaster_pid);
    if (before.empty()) return 0;
    long ticks = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::vector<std::string> child = stat_fields(std::stoi(name));
      if (!child.empty() && stat_field(child, kParent) == postmaster_pid)
        ticks += stat_field(child, kUtime) + stat_field(child, kStime);
    }
    const std::vector<std::string> after = stat_fields(postmaster_pid);
    if (after.empty()) return 0;
    const long reaped = stat_field(after, kCutime) + stat_field(after, kCstime);
    if (reaped == stat_field(before, kCutime) + stat_field(before, kCstime))
      return ticks_to_seconds(ticks + stat_field(after, kUtime) + stat_field(after, kStime) + reaped);
  }
}

RssSampler::RssSampler(int pid)
    : thread_([this, pid] {
        while (running_) {
          const long now = read_rss(pid).rss_kb;
          if (now > peak_kb_) peak_kb_ = now;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }) {}

RssSampler::~RssSampler() {
  running_ = false;
  thread_.join();
}

}  // namespace bench
