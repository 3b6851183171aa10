#include "proc.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

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

double cpu_seconds(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  // Fields after the command name (which may hold spaces), from field 3 on:
  // utime and stime are fields 14 and 15.
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int number = 3; fields >> field && number <= 15; ++number) {
    if (number == 14) utime = std::stol(field);
    if (number == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
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
