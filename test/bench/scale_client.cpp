// scale_client: many iSCSI sessions from one process (libiscsi's async API, one context per
// session, one poll loop), for scripts/scale.sh and the `scale` CTest. Not part of the daemon.
//
//   scale_client --portal H:P[,H:P...] --target IQN[,IQN...] --initiators N [options]
//
// Session s (0 <= s < N x targets) is initiator s / targets ("<prefix><n>") logged in to
// target s % targets through portal s % portals, LUN --lun. Phases, each bounded by
// --deadline-s (the whole run):
//   1. login every session (at most --login-window logins in progress at once);
//   2. with --measure-pid PID: the daemon's memory (/proc/PID/smaps_rollup) before phase 1 and
//      after it, with every session logged in and idle: the growth divided by the sessions;
//   3. --ios K: every session writes K 4 KiB blocks of its own pattern in its own region and
//      reads them back; every command must end GOOD and every block compare equal; the memory
//      again, the sessions idle after their I/O;
//   4. --load-sessions S --qd D --count C: the first S sessions keep D 4 KiB random reads each
//      in flight in the first --load-blocks blocks until C complete: IOPS (and, with
//      --measure-pid, the daemon's CPU microseconds per I/O);
//   5. logout.
//   --latency R instead: R times in a row, one session's login, REPORT LUNS and logout, timed
//   (median microseconds; the LUN count REPORT LUNS returned).
// Output: `key value` lines. Exit status 0 when every session logged in and every command
// ended GOOD with its data verified, 1 otherwise, 2 on a usage error.
extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kBlock = 512;           // the LUs' logical block size (scale.sh configures 512)
constexpr uint32_t kIoBytes = 4096;        // every I/O is 4 KiB
constexpr uint32_t kIoBlocks = kIoBytes / kBlock;
constexpr int kUnitAttentionRetries = 5;   // a new nexus' UNIT ATTENTIONs, retried
constexpr int kServiceTickMs = 200;        // poll timeout; iscsi_service(c, 0) runs its timeouts
constexpr int kCommandTimeoutS = 30;       // libiscsi's per-command timeout
constexpr auto kSettle = std::chrono::milliseconds(500);  // the daemon ends the sessions after the logouts
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> portals, targets;
  std::string prefix = "iqn.2026-12.org.example:scale-";
  int initiators = 1, lun = 0, ios = 0, login_window = 32, deadline_s = 120, latency = 0;
  int load_sessions = 0, qd = 1;
  uint64_t count = 0, load_blocks = 65536, region_blocks = 2097152;
  pid_t measure_pid = -1;
  bool digest = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

// The daemon's memory from /proc/PID/smaps_rollup (kB): resident, proportional, anonymous.
struct Memory {
  long rss = 0, pss = 0, anon = 0;
};
Memory memory_of(pid_t pid) {
  Memory m;
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  static const std::map<std::string, long Memory::*> fields = {
      {"Rss:", &Memory::rss}, {"Pss:", &Memory::pss}, {"Anonymous:", &Memory::anon}};
  for (std::string key; f >> key;) {
    long v = 0;
    if (auto it = fields.find(key); it != fields.end() && f >> v) m.*(it->second) = v;
    f.ignore(1 << 20, '\n');
  }
  return m;
}

// The daemon's CPU seconds so far (user + system, /proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i >= 14) ticks += std::stod(field);
  return ticks / double(::sysconf(_SC_CLK_TCK));
}

void print_memory(const char* phase, const Memory& before, const Memory& now, int sessions) {
  auto per = [&](long a, long b) { return sessions > 0 ? double(a - b) / sessions : 0.0; };
  std::printf("memory_%s_kib rss %ld pss %ld anon %ld\n", phase, now.rss, now.pss, now.anon);
  std::printf("per_session_%s_kib rss %.1f pss %.1f anon %.1f\n", phase, per(now.rss, before.rss),
              per(now.pss, before.pss), per(now.anon, before.anon));
}

enum class State { idle, connecting, ready, failed };

struct Session {
  int index = 0;
  iscsi_context* c = nullptr;
  State state = State::idle;
  std::string target, portal, error;
  // phase 3: the next block to write or read back, and what is in flight
  int written = 0, read = 0, inflight = 0;
  int ua_left = kUnitAttentionRetries;
  std::vector<unsigned char> wbuf;  // the write in flight (one command at a time in phase 3)
  uint64_t region = 0;  // first block of this session's region
  int fd = -1, events = 0;  // registered in the run's epoll set (watch())
};

struct Run {
  Options o;
  std::vector<std::unique_ptr<Session>> sessions;
  uint64_t good = 0, bad = 0, mismatched = 0, issued = 0, done = 0;
  std::mt19937_64 rng{12345};
  Clock::time_point deadline;
  std::string first_error;
  int connecting = 0;  // logins in progress
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  ~Run() { ::close(epfd); }
  void fail(Session& s, const std::string& why) {
    if (first_error.empty()) first_error = "session " + std::to_string(s.index) + ": " + why;
    s.error = why;
  }
};

Run* g_run = nullptr;  // the callbacks' way back (libiscsi passes the session as private data)

// The pattern of session s's block i: every 8-byte word names the session, the block and its
// own offset, so a block read from anywhere else never compares equal.
void fill(std::vector<unsigned char>& buf, int session, int block) {
  for (uint32_t off = 0; off < kIoBytes; off += 8) {
    uint64_t w = (uint64_t(session) << 40) ^ (uint64_t(block) << 20) ^ off ^ 0x5ca1e0000000000fULL;
    std::memcpy(buf.data() + off, &w, 8);
  }
}

void verify_step(Session& s);

void on_verify_io(iscsi_context*, int status, void* data, void* priv) {
  auto& s = *static_cast<Session*>(priv);
  auto* t = static_cast<scsi_task*>(data);
  Run& r = *g_run;
  --s.inflight;
  const bool is_write = s.written < r.o.ios;
  if (status == SCSI_STATUS_CHECK_CONDITION && t && t->sense.key == SCSI_SENSE_UNIT_ATTENTION && s.ua_left-- > 0) {
    scsi_free_scsi_task(t);
    verify_step(s);  // the same block again
    return;
  }
  if (status != SCSI_STATUS_GOOD) {
    ++r.bad;
    r.fail(s, std::string(is_write ? "write" : "read") + " status " + std::to_string(status) + ": " +
                  iscsi_get_error(s.c));
    s.state = State::failed;
  } else {
    ++r.good;
    if (is_write) {
      ++s.written;
    } else {
      std::vector<unsigned char> want(kIoBytes);
      fill(want, s.index, s.read);
      if (!t || t->datain.size != int(kIoBytes) || std::memcmp(t->datain.data, want.data(), kIoBytes) != 0) {
        ++r.mismatched;
        r.fail(s, "block " + std::to_string(s.read) + " read back different");
      }
      ++s.read;
    }
  }
  if (t) scsi_free_scsi_task(t);
  if (s.state != State::failed) verify_step(s);
}

// One command of session s's verify phase at a time: K writes, then K reads.
void verify_step(Session& s) {
  Run& r = *g_run;
  if (s.read >= r.o.ios) return;
  scsi_task* t = nullptr;
  if (s.written < r.o.ios) {
    // libiscsi sends from the buffer until the command completes: the session's own.
    s.wbuf.resize(kIoBytes);
    fill(s.wbuf, s.index, s.written);
    t = iscsi_write16_task(s.c, r.o.lun, s.region + uint64_t(s.written) * kIoBlocks, s.wbuf.data(), kIoBytes, kBlock,
                           0, 0, 0, 0, 0, on_verify_io, &s);
  } else {
    t = iscsi_read16_task(s.c, r.o.lun, s.region + uint64_t(s.read) * kIoBlocks, kIoBytes, kBlock, 0, 0, 0, 0, 0,
                          on_verify_io, &s);
  }
  if (!t) {
    ++r.bad;
    r.fail(s, std::string("queueing a command: ") + iscsi_get_error(s.c));
    s.state = State::failed;
    return;
  }
  ++s.inflight;
}

void load_issue(Session& s);

void on_load_io(iscsi_context*, int status, void* data, void* priv) {
  auto& s = *static_cast<Session*>(priv);
  Run& r = *g_run;
  --s.inflight;
  if (status == SCSI_STATUS_GOOD) {
    ++r.good;
  } else if (!(status == SCSI_STATUS_CHECK_CONDITION && static_cast<scsi_task*>(data)->sense.key ==
                                                            SCSI_SENSE_UNIT_ATTENTION)) {
    ++r.bad;
    r.fail(s, "load read status " + std::to_string(status));
  }
  ++r.done;
  if (data) scsi_free_scsi_task(static_cast<scsi_task*>(data));
  if (r.issued < r.o.count) load_issue(s);
}

void load_issue(Session& s) {
  Run& r = *g_run;
  const uint64_t lba = (r.rng() % (r.o.load_blocks / kIoBlocks)) * kIoBlocks;
  if (iscsi_read16_task(s.c, r.o.lun, lba, kIoBytes, kBlock, 0, 0, 0, 0, 0, on_load_io, &s) == nullptr) {
    ++r.bad;
    r.fail(s, std::string("queueing a read: ") + iscsi_get_error(s.c));
    return;
  }
  ++s.inflight;
  ++r.issued;
}

void on_login(iscsi_context* c, int status, void*, void* priv) {
  auto& s = *static_cast<Session*>(priv);
  --g_run->connecting;
  if (status == SCSI_STATUS_GOOD) {
    s.state = State::ready;
  } else {
    s.state = State::failed;
    g_run->fail(s, std::string("login: ") + iscsi_get_error(c));
  }
}

// The session's registration in the run's epoll set follows what libiscsi wants to wait for
// (its descriptor changes at connect; POLLOUT only while PDUs wait to be sent).
void watch(Run& r, Session& s) {
  const bool live = s.state == State::connecting || s.state == State::ready;
  const int fd = live ? iscsi_get_fd(s.c) : -1;
  const int want = fd >= 0 ? iscsi_which_events(s.c) : 0;
  if (fd != s.fd) {
    // A descriptor libiscsi closed left the set by itself; one still open leaves it here.
    if (s.fd >= 0 && s.c && iscsi_get_fd(s.c) == s.fd) ::epoll_ctl(r.epfd, EPOLL_CTL_DEL, s.fd, nullptr);
    s.fd = -1;
    s.events = 0;
    if (fd < 0 || want == 0) return;
    epoll_event ev{uint32_t(want), {.ptr = &s}};
    if (::epoll_ctl(r.epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
      s.fd = fd;
      s.events = want;
    }
  } else if (fd >= 0 && want != s.events) {
    epoll_event ev{uint32_t(want), {.ptr = &s}};
    if (::epoll_ctl(r.epfd, EPOLL_CTL_MOD, fd, &ev) == 0) s.events = want;
  }
}

void service(Run& r, Session& s, int revents) {
  if (iscsi_service(s.c, revents) < 0) {
    if (s.state == State::connecting) --r.connecting;
    if (s.state != State::failed) r.fail(s, std::string("service: ") + iscsi_get_error(s.c));
    s.state = State::failed;
    return;
  }
  // What the callbacks queued goes out now: the socket is almost always writable, and a
  // round trip through epoll_wait for POLLOUT would cost two epoll_ctl calls per batch.
  if (s.state == State::ready && (iscsi_which_events(s.c) & POLLOUT) && iscsi_service(s.c, POLLOUT) < 0) {
    r.fail(s, std::string("service: ") + iscsi_get_error(s.c));
    s.state = State::failed;
  }
}

// Services every live context until done() or the deadline; false at the deadline.
template <class Done>
bool loop(Run& r, Done done) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  auto last_tick = Clock::now();
  while (!done()) {
    if (Clock::now() > r.deadline) return false;
    bool any = false;
    for (auto& s : r.sessions) {
      watch(r, *s);
      any = any || s->fd >= 0;
    }
    if (!any) return done();
    const int n = ::epoll_wait(r.epfd, events, kMaxEvents, kServiceTickMs);
    if (n < 0 && errno != EINTR) return false;
    for (int i = 0; i < n; ++i) {
      Session& s = *static_cast<Session*>(events[i].data.ptr);
      if (s.state == State::connecting || s.state == State::ready) service(r, s, int(events[i].events));
    }
    if (Clock::now() - last_tick > std::chrono::seconds(1)) {  // libiscsi's timeouts
      last_tick = Clock::now();
      for (auto& s : r.sessions)
        if (s->state == State::connecting || s->state == State::ready) service(r, *s, 0);
    }
  }
  return true;
}

iscsi_context* new_context(const Options& o, const std::string& initiator, const std::string& target) {
  iscsi_context* c = iscsi_create_context(initiator.c_str());
  if (!c) return nullptr;
  iscsi_set_targetname(c, target.c_str());
  iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(c, o.digest ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE);
  iscsi_set_noautoreconnect(c, 1);  // a lost session is a failure here, not a silent reconnect
  iscsi_set_timeout(c, kCommandTimeoutS);
  return c;
}

void raise_nofile(size_t sessions) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  std::printf("client_nofile %llu\n", static_cast<unsigned long long>(rl.rlim_cur));
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < sessions + 16)
    std::fprintf(stderr, "scale_client: the open-file limit %llu is below %zu sessions\n",
                 static_cast<unsigned long long>(rl.rlim_cur), sessions);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// --latency R: one session's login, REPORT LUNS and logout, R times (sync API, one at a time).
int latency(const Options& o) {
  std::vector<double> login_us, report_us;
  int luns = -1;
  for (int i = 0; i < o.latency; ++i) {
    iscsi_context* c = new_context(o, o.prefix + "latency", o.targets[0]);
    auto t0 = Clock::now();
    if (iscsi_full_connect_sync(c, o.portals[0].c_str(), o.lun) != 0) {
      std::fprintf(stderr, "scale_client: login: %s\n", iscsi_get_error(c));
      iscsi_destroy_context(c);
      return 1;
    }
    auto t1 = Clock::now();
    scsi_task* t = iscsi_reportluns_sync(c, 0, 65536);
    auto t2 = Clock::now();
    if (!t || t->status != SCSI_STATUS_GOOD) {
      std::fprintf(stderr, "scale_client: REPORT LUNS: %s\n", iscsi_get_error(c));
      if (t) scsi_free_scsi_task(t);
      iscsi_destroy_context(c);
      return 1;
    }
    if (auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t))) luns = int(list->num);
    scsi_free_scsi_task(t);
    iscsi_logout_sync(c);
    iscsi_destroy_context(c);
    login_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    report_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  std::printf("report_luns_count %d\nlogin_median_us %.0f\nreport_luns_median_us %.0f\n", luns, median(login_us),
              median(report_us));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: scale_client --portal H:P[,H:P...] --target IQN[,IQN...] --initiators N [--prefix P]\n"
               "  [--lun L] [--ios K] [--login-window W] [--deadline-s S] [--measure-pid PID] [--digest]\n"
               "  [--load-sessions S --qd D --count C [--load-blocks B]] [--region-blocks B] | [--latency R]\n");
  return 2;
}

bool parse(int argc, char** argv, Options& o) {
  const std::map<std::string, std::function<void(const char*)>> table = {
      {"--portal", [&](const char* v) { o.portals = split(v); }},
      {"--target", [&](const char* v) { o.targets = split(v); }},
      {"--prefix", [&](const char* v) { o.prefix = v; }},
      {"--initiators", [&](const char* v) { o.initiators = std::atoi(v); }},
      {"--lun", [&](const char* v) { o.lun = std::atoi(v); }},
      {"--ios", [&](const char* v) { o.ios = std::atoi(v); }},
      {"--login-window", [&](const char* v) { o.login_window = std::max(1, std::atoi(v)); }},
      {"--deadline-s", [&](const char* v) { o.deadline_s = std::atoi(v); }},
      {"--measure-pid", [&](const char* v) { o.measure_pid = std::atoi(v); }},
      {"--load-sessions", [&](const char* v) { o.load_sessions = std::atoi(v); }},
      {"--qd", [&](const char* v) { o.qd = std::max(1, std::atoi(v)); }},
      {"--count", [&](const char* v) { o.count = std::strtoull(v, nullptr, 10); }},
      {"--load-blocks", [&](const char* v) { o.load_blocks = std::max<uint64_t>(kIoBlocks, std::strtoull(v, nullptr, 10)); }},
      {"--region-blocks", [&](const char* v) { o.region_blocks = std::strtoull(v, nullptr, 10); }},
      {"--latency", [&](const char* v) { o.latency = std::atoi(v); }},
  };
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--digest") == 0) {
      o.digest = true;
      continue;
    }
    auto it = table.find(argv[i]);
    if (it == table.end() || i + 1 >= argc) return false;
    it->second(argv[++i]);
  }
  return !o.portals.empty() && !o.targets.empty() && o.initiators > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Run r;
  g_run = &r;
  if (!parse(argc, argv, r.o)) return usage();
  const Options& o = r.o;
  if (o.latency > 0) return latency(o);
  const int n = o.initiators * int(o.targets.size());
  raise_nofile(size_t(n));
  r.deadline = Clock::now() + std::chrono::seconds(o.deadline_s);
  const uint64_t region = uint64_t(std::max(o.ios, 1)) * kIoBlocks;
  if (uint64_t(n) * region > o.region_blocks) {
    std::fprintf(stderr, "scale_client: %d sessions x %d I/Os do not fit in %llu blocks\n", n, o.ios,
                 static_cast<unsigned long long>(o.region_blocks));
    return 2;
  }
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<Session>();
    s->index = i;
    s->target = o.targets[size_t(i) % o.targets.size()];
    s->portal = o.portals[size_t(i) % o.portals.size()];
    s->region = uint64_t(i) * region;
    r.sessions.push_back(std::move(s));
  }
  std::printf("sessions %d\n", n);
  Memory base;
  if (o.measure_pid > 0) base = memory_of(o.measure_pid);
  if (o.measure_pid > 0) print_memory("before", base, base, 0);

  // 1. Logins, at most login_window in progress.
  auto t0 = Clock::now();
  size_t next = 0;
  auto count_state = [&](State st) {
    return std::count_if(r.sessions.begin(), r.sessions.end(), [&](auto& s) { return s->state == st; });
  };
  auto start_logins = [&] {
    while (next < r.sessions.size() && r.connecting < o.login_window) {
      Session& s = *r.sessions[next++];
      s.c = new_context(o, o.prefix + std::to_string(s.index / int(o.targets.size())), s.target);
      if (!s.c || iscsi_full_connect_async(s.c, s.portal.c_str(), o.lun, on_login, &s) != 0) {
        s.state = State::failed;
        r.fail(s, std::string("connect: ") + (s.c ? iscsi_get_error(s.c) : "no context"));
        continue;
      }
      s.state = State::connecting;
      ++r.connecting;
    }
  };
  start_logins();
  loop(r, [&] {
    start_logins();
    return next == r.sessions.size() && r.connecting == 0;
  });
  const long logged_in = count_state(State::ready);
  std::printf("logged_in %ld\nlogin_failed %d\nlogin_seconds %.2f\n", logged_in, int(n - logged_in),
              std::chrono::duration<double>(Clock::now() - t0).count());
  if (o.measure_pid > 0) print_memory("idle", base, memory_of(o.measure_pid), int(logged_in));

  // 3. Verified I/O on every session.
  if (o.ios > 0) {
    t0 = Clock::now();
    for (auto& s : r.sessions)
      if (s->state == State::ready) verify_step(*s);
    loop(r, [&] {
      return std::all_of(r.sessions.begin(), r.sessions.end(),
                         [&](auto& s) { return s->state != State::ready || s->read >= o.ios; });
    });
    uint64_t verified = 0;
    for (auto& s : r.sessions) verified += uint64_t(s->read);
    std::printf("io_good %llu\nio_bad %llu\nio_mismatched %llu\nio_verified_blocks %llu\nio_seconds %.2f\n",
                static_cast<unsigned long long>(r.good), static_cast<unsigned long long>(r.bad),
                static_cast<unsigned long long>(r.mismatched), static_cast<unsigned long long>(verified),
                std::chrono::duration<double>(Clock::now() - t0).count());
    if (o.measure_pid > 0) print_memory("after_io", base, memory_of(o.measure_pid), int(logged_in));
  }
  const bool verify_ok = logged_in == n && r.bad == 0 && r.mismatched == 0;

  // 4. Load: the first S sessions, D reads each in flight, C in all.
  bool load_ok = true;
  if (o.load_sessions > 0 && o.count > 0) {
    r.good = r.bad = r.issued = r.done = 0;
    std::vector<Session*> load;
    for (auto& s : r.sessions)
      if (s->state == State::ready && int(load.size()) < o.load_sessions) load.push_back(s.get());
    const double cpu0 = o.measure_pid > 0 ? cpu_seconds(o.measure_pid) : 0;
    const double self0 = cpu_seconds(::getpid());
    t0 = Clock::now();
    for (int d = 0; d < o.qd; ++d)
      for (Session* s : load)
        if (r.issued < o.count) load_issue(*s);
    loop(r, [&] { return r.done >= r.issued && r.issued >= o.count; });
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    load_ok = r.bad == 0 && r.done >= o.count;
    std::printf("load_sessions %zu\nload_qd %d\nload_done %llu\nload_bad %llu\nload_seconds %.3f\nload_iops %.0f\n",
                load.size(), o.qd, static_cast<unsigned long long>(r.done), static_cast<unsigned long long>(r.bad),
                secs, secs > 0 ? double(r.done) / secs : 0);
    if (r.done > 0)
      std::printf("load_client_cpu_us_per_io %.2f\n", (cpu_seconds(::getpid()) - self0) * 1e6 / double(r.done));
    if (o.measure_pid > 0 && r.done > 0)
      std::printf("load_daemon_cpu_us_per_io %.2f\n", (cpu_seconds(o.measure_pid) - cpu0) * 1e6 / double(r.done));
  }

  // 5. Logout (bounded by the deadline), then every context goes.
  int logouts = 0;
  auto on_logout = [](iscsi_context*, int, void*, void* priv) { static_cast<Session*>(priv)->state = State::idle; };
  for (auto& s : r.sessions)
    if (s->state == State::ready && iscsi_logout_async(s->c, on_logout, s.get()) == 0) ++logouts;
  r.deadline = std::min(r.deadline + std::chrono::seconds(10), Clock::now() + std::chrono::seconds(10));
  loop(r, [&] { return count_state(State::ready) == 0; });
  for (auto& s : r.sessions)
    if (s->c) iscsi_destroy_context(s->c);
  std::printf("logged_out %d\n", logouts - int(count_state(State::ready)));
  if (o.measure_pid > 0) {
    // What the daemon still holds after every session ended (its tables of past sessions).
    std::this_thread::sleep_for(kSettle);
    print_memory("after_logout", base, memory_of(o.measure_pid), int(logged_in));
  }
  if (!r.first_error.empty()) std::printf("first_error %s\n", r.first_error.c_str());
  const bool ok = verify_ok && load_ok;
  std::printf("client_result %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
