// The daemons' log lines when systemd runs them (docs/install.md "Logs"): systemd connects
// stderr to the journal and says so in $JOURNAL_STREAM ("DEVICE:INODE" of that stream). When
// stderr is that stream, each line starts with its syslog priority in angle brackets ("<6>"),
// which journald reads as the line's priority (SyslogLevelPrefix=, on by default), and carries
// no timestamp (the journal adds its own). Otherwise (a terminal, a file, a test) the pattern
// the daemon chose is left alone. Header-only over spdlog.
#pragma once
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace stmf::tools {

// syslog(3) priorities of spdlog's levels, indexed by spdlog::level::level_enum (trace .. off).
inline constexpr std::array<char, 7> kJournalPriority = {'7', '7', '6', '4', '3', '2', '6'};

// True when stderr is the journal stream systemd named in $JOURNAL_STREAM.
inline bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js || !*js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

// The "%*" flag: "<N>", N the line's syslog priority.
class JournalPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto i = static_cast<size_t>(msg.level);
    const char p = i < kJournalPriority.size() ? kJournalPriority[i] : '6';
    const char text[] = {'<', p, '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JournalPriorityFlag>(); }
};

// Call after the default logger and its pattern are set: switches every logger (and the clones
// stmf::logger makes later) to "<N>level [component] message" when stderr is the journal.
// Returns whether it did.
inline bool log_to_journal_if_connected() {
  if (!stderr_is_journal()) return false;
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<JournalPriorityFlag>('*').set_pattern("%*%l [%n] %v");
  spdlog::set_formatter(std::move(f));
  return true;
}

}  // namespace stmf::tools
