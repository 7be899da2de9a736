// mhd_harness: the two-host (sometimes three-host) scenario suite of libmhd, against any iSCSI
// target. Each host is a distinct initiator name with its own session; each scenario starts
// from a clean LU (no reservation, no registration) and cleans up after itself.
//
//   mhd_harness --url iscsi://127.0.0.1:3260/iqn.../0 [--restart-cmd CMD] [--only SUBSTR]
//   mhd_harness --stmfd PATH      start a stmfd of our own on loopback (what CTest runs)
//
// Prints one line per scenario (PASS/FAIL/SKIP name: detail) and `N passed, N failed,
// N skipped`; exits 0 when nothing failed. docs/mhd.md lists the scenarios.
extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mhd/mhd.h"
#include "test/integration/daemon.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Small delays so that the suite stays short; the defaults are the man page's.
constexpr unsigned kProbeMs = 100;
constexpr int kTkownPollMs = 100;
constexpr mhioctkown kFastTkown{2000, 1000, 8000};   // reinstate, min, max (ms)
constexpr mhioctkown kQuickReinstate{300, 600, 8000};
constexpr auto kEventually = 10s;  // bound for "eventually" conditions (never a pass criterion)

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct Skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The target answered ENOTSUP (it does not offer the operation, as mhd(4I) allows): a skip,
// unless --strict (what CTest runs against stmfd, which offers everything).
struct Unsupported : Skipped {
  using Skipped::Skipped;
};

std::string fmt_errno(int e) { return std::string(strerrorname_np(e) ? strerrorname_np(e) : "?"); }

#define EXPECT(cond, what)                                                          \
  do {                                                                              \
    if (!(cond)) throw Failure(std::string(what) + " (line " + std::to_string(__LINE__) + ")"); \
  } while (0)

struct Env {
  std::string url;
  std::function<void()> restart;  // empty: the target cannot be restarted by the harness
};

Env* g_env = nullptr;

struct Host;
Host* g_last = nullptr;  // the host of the last request, for the target's answer in messages

struct Host {
  std::string name;
  mhd_handle_t* h = nullptr;
  std::atomic<int> fired{0};
  std::atomic<Clock::rep> fired_at{0};  // steady clock ticks of the first firing
  ~Host() {
    if (g_last == this) g_last = nullptr;
    if (h) mhd_close(h);
  }
  void close() {
    if (h) mhd_close(h);
    h = nullptr;
  }
};

void on_failfast(mhd_handle_t*, const char*, void* arg) {
  auto* h = static_cast<Host*>(arg);
  Clock::rep zero = 0;
  h->fired_at.compare_exchange_strong(zero, Clock::now().time_since_epoch().count());
  h->fired++;
}

std::string g_note;  // informational detail printed with a PASS (measurements, never criteria)

std::string host_name(char id) { return std::string("iqn.2026-11.org.example:mhd-host-") + id; }

std::unique_ptr<Host> open_host(char id, int flags = O_NDELAY) {
  auto host = std::make_unique<Host>();
  host->name = host_name(id);
  host->h = mhd_open(g_env->url.c_str(), host->name.c_str(), flags);
  if (!host->h) throw Failure("open as host " + std::string(1, id) + ": " + fmt_errno(errno));
  mhd_set_failfast_handler(host->h, on_failfast, host.get());
  mhd_set_param(host->h, MHD_PARAM_TKOWN_POLL_MS, kTkownPollMs);
  return host;
}

// -1 with `err`, or the call's result when err == 0.

void expect_rc(int rc, int err, const std::string& what) {
  if (err == 0) {
    if (rc < 0 && errno == ENOTSUP)
      throw Unsupported(what + ": the target does not support it (ENOTSUP" +
                        (g_last && g_last->h ? std::string(", ") + mhd_last_error(g_last->h) : "") + ")");
    if (rc < 0)
      throw Failure(what + ": expected success, got " + fmt_errno(errno) +
                    (g_last && g_last->h ? std::string(" [") + mhd_last_error(g_last->h) + "]" : ""));
    return;
  }
  if (rc != -1) throw Failure(what + ": expected " + fmt_errno(err) + ", got " + std::to_string(rc));
  if (errno != err)
    throw Failure(what + ": expected " + fmt_errno(err) + ", got " + fmt_errno(errno) +
                  (g_last && g_last->h ? std::string(" [") + mhd_last_error(g_last->h) + "]" : ""));
}

int ioctl_(Host& h, int req, const void* arg = nullptr) {
  g_last = &h;
  return mhd_ioctl(h.h, req, const_cast<void*>(arg));
}

mhioc_resv_key_t key(uint64_t v) {
  mhioc_resv_key_t k;
  for (int i = 7; i >= 0; --i, v >>= 8) k.key[i] = uint8_t(v);
  return k;
}
uint64_t value(const mhioc_resv_key_t& k) {
  uint64_t v = 0;
  for (auto b : k.key) v = v << 8 | b;
  return v;
}

constexpr uint64_t kKeyA = 0xA1A1, kKeyB = 0xB2B2, kKeyC = 0xC3C3, kKeyJanitor = 0x7A7A;

void reg(Host& h, uint64_t old_key, uint64_t new_key, bool aptpl = false, int err = 0) {
  mhioc_register_t r{key(old_key), key(new_key), aptpl ? B_TRUE : B_FALSE};
  expect_rc(ioctl_(h, MHIOCGRP_REGISTER, &r), err, "MHIOCGRP_REGISTER by " + h.name);
}
void resv(Host& h, uint64_t k, uint8_t type, int err = 0) {
  mhioc_resv_desc_t d{key(k), type, SCSI3_SCOPE_LOGICALUNIT, 0};
  expect_rc(ioctl_(h, MHIOCGRP_RESERVE, &d), err, "MHIOCGRP_RESERVE by " + h.name);
}
void preempt(Host& h, int req, uint64_t own, uint64_t victim, uint8_t type, int err = 0) {
  mhioc_preemptandabort_t p{{key(own), type, SCSI3_SCOPE_LOGICALUNIT, 0}, key(victim)};
  expect_rc(ioctl_(h, req, &p), err, std::string(mhd_request_name(req)) + " by " + h.name);
}

struct Keys {
  uint32_t generation = 0, listlen = 0;
  std::vector<uint64_t> keys;
};
Keys inkeys(Host& h, uint32_t listsize = 16) {
  std::vector<mhioc_resv_key_t> list(listsize);
  mhioc_key_list_t li{listsize, 0, list.data()};
  mhioc_inkeys_t in{0, &li};
  expect_rc(ioctl_(h, MHIOCGRP_INKEYS, &in), 0, "MHIOCGRP_INKEYS");
  Keys k{in.generation, li.listlen, {}};
  for (uint32_t i = 0; i < std::min(li.listlen, listsize); ++i) k.keys.push_back(value(list[i]));
  return k;
}
struct Resvs {
  uint32_t generation = 0, listlen = 0;
  std::vector<mhioc_resv_desc_t> list;
};
Resvs inresv(Host& h, uint32_t listsize = 4) {
  std::vector<mhioc_resv_desc_t> list(listsize);
  mhioc_resv_desc_list_t li{listsize, 0, list.data()};
  mhioc_inresvs_t in{0, &li};
  expect_rc(ioctl_(h, MHIOCGRP_INRESV, &in), 0, "MHIOCGRP_INRESV");
  list.resize(std::min(li.listlen, listsize));
  return {in.generation, li.listlen, list};
}

int status(Host& h) {
  int rc = ioctl_(h, MHIOCSTATUS);
  if (rc < 0) throw Failure("MHIOCSTATUS by " + h.name + ": " + fmt_errno(errno));
  return rc;
}

std::vector<uint8_t> pattern(Host& h, char tag, uint32_t seq) {
  std::vector<uint8_t> b(mhd_block_size(h.h) ? mhd_block_size(h.h) : 512, uint8_t(tag));
  std::memcpy(b.data() + 1, &seq, sizeof seq);
  return b;
}
constexpr off_t kBlock = 100;  // the block the I/O scenarios use
constexpr off_t kRegionOffset = 1 << 20;  // the region the fencing scenario writes
constexpr size_t kRegionBytes = 4 << 20;  // 4 commands of 1 MiB per write
constexpr int kAbortedTimeoutS = 2;       // a task aborted without status (TAS=0) ends this way

size_t kRegionBlocksFor(size_t bytes, Host& h) { return bytes / (mhd_block_size(h.h) ? mhd_block_size(h.h) : 512); }

// Every block of the region tagged: its first byte `tag`, then `seq` and the block's index.
std::vector<uint8_t> region_pattern(Host& h, char tag, uint32_t seq) {
  size_t bs = mhd_block_size(h.h) ? mhd_block_size(h.h) : 512;
  std::vector<uint8_t> b(kRegionBytes, uint8_t(tag));
  for (size_t off = 0, i = 0; off < b.size(); off += bs, ++i) {
    std::memcpy(b.data() + off + 1, &seq, sizeof seq);
    std::memcpy(b.data() + off + 1 + sizeof seq, &i, sizeof i);
  }
  return b;
}

ssize_t write_block(Host& h, const std::vector<uint8_t>& b, off_t block = kBlock) {
  return mhd_pwrite(h.h, b.data(), b.size(), block * off_t(b.size()));
}
std::vector<uint8_t> read_block(Host& h, off_t block = kBlock) {
  std::vector<uint8_t> b(mhd_block_size(h.h) ? mhd_block_size(h.h) : 512);
  expect_rc(int(mhd_pread(h.h, b.data(), b.size(), block * off_t(b.size()))), 0, "read by " + h.name);
  return b;
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds every = 50ms) {
  auto end = Clock::now() + kEventually;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(every);
  }
  return f();
}

void enfailfast(Host& h, unsigned ms) {
  expect_rc(ioctl_(h, MHIOCENFAILFAST, &ms), 0, "MHIOCENFAILFAST by " + h.name);
}

// A task management function from a host of its own (libiscsi directly: not an mhd request).
void lun_reset_from(char id) {
  iscsi_context* c = iscsi_create_context(host_name(id).c_str());
  iscsi_url* u = iscsi_parse_full_url(c, g_env->url.c_str());
  if (!u) {
    iscsi_destroy_context(c);
    throw Failure("bad url");
  }
  iscsi_set_targetname(c, u->target);
  iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
  int lun = u->lun;
  bool ok = iscsi_full_connect_sync(c, u->portal, lun) == 0 && iscsi_task_mgmt_lun_reset_sync(c, uint32_t(lun)) == 0;
  iscsi_destroy_url(u);
  iscsi_logout_sync(c);
  iscsi_destroy_context(c);
  if (!ok) throw Failure("LOGICAL UNIT RESET from host " + std::string(1, id) + " failed");
}

// Back to a clean LU: every scenario host has closed its session (SCSI-2 reservations go with
// the nexus); a janitor host breaks any leftover SCSI-2 reservation and removes every PR.
void clean_lu() {
  try {
    lun_reset_from('j');
  } catch (const Failure&) {
  }
  auto j = open_host('j');
  mhioc_registerandignorekey_t r{key(kKeyJanitor), B_FALSE};
  ioctl_(*j, MHIOCGRP_REGISTERANDIGNOREKEY, &r);
  mhioc_resv_key_t k = key(kKeyJanitor);
  ioctl_(*j, MHIOCGRP_CLEAR, &k);
}

struct Scenario {
  const char* name;
  const char* category;  // "scsi2" (non-shared ioctls) or "pr" (shared ioctls) or "api"
  std::function<void()> run;
};

std::vector<Scenario> scenarios() {
  std::vector<Scenario> s;
  // ---------------------------------------------------------------- non-shared (SCSI-2)
  s.push_back({"status_free_disk", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 EXPECT(status(*a) == 0, "A STATUS on a free disk is 0");
                 EXPECT(status(*b) == 0, "B STATUS on a free disk is 0");
               }});
  s.push_back({"qreserve_then_status", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 EXPECT(status(*a) == 0, "A STATUS (holder) is 0");
                 EXPECT(status(*b) == 1, "B STATUS (other host) is 1");
               }});
  s.push_back({"qreserve_conflict_eacces", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
               }});
  s.push_back({"qreserve_never_resets", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE again");
                 EXPECT(status(*a) == 0, "A still holds the disk");
                 EXPECT(status(*b) == 1, "B still locked out");
               }});
  s.push_back({"qreserve_twice_by_holder", "scsi2", [] {
                 auto a = open_host('a');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE again (holder)");
               }});
  s.push_back({"release_by_holder_frees", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*a, MHIOCRELEASE), 0, "A RELEASE");
                 EXPECT(status(*b) == 0, "B STATUS after the release is 0");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), 0, "B QRESERVE");
               }});
  s.push_back({"release_by_non_holder_changes_nothing", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCRELEASE), 0, "B RELEASE (non-holder: GOOD, no effect)");
                 EXPECT(status(*b) == 1, "A's reservation stands");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
               }});
  s.push_back({"reservation_ends_with_session", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 a->close();
                 EXPECT(eventually([&] { return status(*b) == 0; }), "B STATUS 0 once A's session is gone");
               }});
  s.push_back({"holder_io", "scsi2", [] {
                 auto a = open_host('a');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 auto p = pattern(*a, 'A', 1);
                 expect_rc(int(write_block(*a, p)), 0, "A writes");
                 EXPECT(read_block(*a) == p, "A reads back what it wrote");
               }});
  s.push_back({"other_host_io_eacces_without_failfast", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(int(write_block(*b, pattern(*b, 'B', 1))), EACCES, "B write");
                 EXPECT(b->fired == 0, "no failfast on B (not enabled)");
               }});
  s.push_back({"open_without_ndelay_refused", "scsi2", [] {
                 auto a = open_host('a');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 mhd_handle_t* h = mhd_open(g_env->url.c_str(), host_name('b').c_str(), 0);
                 int e = errno;
                 if (h) mhd_close(h);
                 EXPECT(!h && e == EACCES, "B open without O_NDELAY: EACCES, got " + (h ? "success" : fmt_errno(e)));
                 auto b = open_host('b', O_NDELAY);  // with O_NDELAY the open succeeds
                 EXPECT(status(*b) == 1, "B STATUS 1");
               }});
  s.push_back({"open_without_ndelay_free", "scsi2", [] { auto b = open_host('b', 0); }});
  s.push_back({"tkown_free_disk", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kFastTkown), 0, "A TKOWN");
                 EXPECT(status(*a) == 0, "A STATUS 0");
                 EXPECT(status(*b) == 1, "B STATUS 1");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
               }});
  s.push_back({"tkown_breaks_other_reservation", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kFastTkown), 0, "A TKOWN");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
                 EXPECT(status(*b) == 1, "B STATUS 1");
                 expect_rc(ioctl_(*b, MHIOCTKOWN, &kFastTkown), 0, "B TKOWN");
                 EXPECT(status(*b) == 0, "B owns it");
                 EXPECT(status(*a) == 1, "A lost it");
               }});
  s.push_back({"tkown_fences_failfast_host", "scsi2", [] {
                 // The man page's sequence: A owns with failfast on; B takes ownership; A's
                 // probe fires before B's TKOWN returns (min_ownership_delay >> probe interval).
                 auto a = open_host('a'), b = open_host('b');
                 enfailfast(*a, kProbeMs);
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kFastTkown), 0, "A TKOWN");
                 EXPECT(a->fired == 0, "A's failfast quiet while A owns the disk");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
                 EXPECT(status(*b) == 1, "B STATUS 1");
                 auto t0 = Clock::now();
                 expect_rc(ioctl_(*b, MHIOCTKOWN, &kFastTkown), 0, "B TKOWN");
                 auto t1 = Clock::now();
                 EXPECT(a->fired == 1, "A's failfast fired by the time B owns the disk (fired " +
                                           std::to_string(a->fired.load()) + ")");
                 auto ms = [&](Clock::time_point t) {
                   return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count());
                 };
                 g_note = "A fired " + ms(Clock::time_point(Clock::duration(a->fired_at.load()))) +
                          " ms after B's TKOWN began (probe " + std::to_string(kProbeMs) + " ms); B owned at " + ms(t1) +
                          " ms";
               }});
  s.push_back({"failfast_on_own_io", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 unsigned no_probe = INT_MAX;  // failfast without a probe: only A's own I/O
                 expect_rc(ioctl_(*a, MHIOCENFAILFAST, &no_probe), 0, "A ENFAILFAST(INT_MAX)");
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCTKOWN, &kFastTkown), 0, "B TKOWN");
                 EXPECT(a->fired == 0, "no probe, nothing fired yet");
                 expect_rc(int(write_block(*a, pattern(*a, 'A', 2))), EACCES, "A write");
                 EXPECT(a->fired == 1, "A's failfast fired on its own write");
               }});
  s.push_back({"failfast_disabled_stays_quiet", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 enfailfast(*a, kProbeMs);
                 enfailfast(*a, 0);
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), 0, "B QRESERVE");
                 expect_rc(int(write_block(*a, pattern(*a, 'A', 3))), EACCES, "A write");
                 std::this_thread::sleep_for(std::chrono::milliseconds(5 * kProbeMs));
                 EXPECT(a->fired == 0, "failfast off: nothing fires");
               }});
  s.push_back({"reinstate_after_lu_reset", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kQuickReinstate), 0, "A TKOWN");
                 lun_reset_from('c');  // a third host resets the LU: the reservation is gone
                 EXPECT(eventually([&] { return status(*b) == 1; }), "A's reservation comes back (B STATUS 1)");
                 EXPECT(status(*a) == 0, "A STATUS 0");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE after reinstatement");
               }});
  s.push_back({"release_stops_reinstatement", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kQuickReinstate), 0, "A TKOWN");
                 expect_rc(ioctl_(*a, MHIOCRELEASE), 0, "A RELEASE");
                 lun_reset_from('c');
                 std::this_thread::sleep_for(std::chrono::milliseconds(4 * kQuickReinstate.reinstate_resv_delay));
                 EXPECT(status(*b) == 0, "nobody re-reserved after the release");
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), 0, "B QRESERVE");
               }});
  s.push_back({"tkown_after_tkown_same_host", "scsi2", [] {
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kQuickReinstate), 0, "A TKOWN");
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &kQuickReinstate), 0, "A TKOWN again");
                 EXPECT(status(*b) == 1, "B STATUS 1");
               }});
  // ---------------------------------------------------------------- shared (SCSI-3 PR)
  s.push_back({"inkeys_empty", "pr", [] {
                 auto a = open_host('a');
                 auto k = inkeys(*a);
                 EXPECT(k.listlen == 0, "no keys on a clean LU, got " + std::to_string(k.listlen));
                 auto r = inresv(*a);
                 EXPECT(r.listlen == 0, "no reservation on a clean LU");
               }});
  s.push_back({"register_and_inkeys_generation", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 uint32_t g0 = inkeys(*a).generation;
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 auto k = inkeys(*a);
                 EXPECT(k.listlen == 2, "two keys, got " + std::to_string(k.listlen));
                 EXPECT((k.keys == std::vector<uint64_t>{kKeyA, kKeyB} || k.keys == std::vector<uint64_t>{kKeyB, kKeyA}),
                        "keys A and B");
                 EXPECT(k.generation == g0 + 2, "generation +2 (" + std::to_string(g0) + " -> " +
                                                    std::to_string(k.generation) + ")");
               }});
  s.push_back({"inkeys_short_list_reports_needed_length", "pr", [] {
                 auto a = open_host('a'), b = open_host('b'), c = open_host('c');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 reg(*c, 0, kKeyC);
                 auto k = inkeys(*a, 1);
                 EXPECT(k.listlen == 3, "listlen 3 with listsize 1, got " + std::to_string(k.listlen));
                 EXPECT(k.keys.size() == 1, "one key copied");
                 auto none = inkeys(*a, 0);
                 EXPECT(none.listlen == 3, "listlen 3 with listsize 0");
                 auto all = inkeys(*a, k.listlen);
                 EXPECT(all.keys.size() == 3, "all three with listsize = listlen");
               }});
  s.push_back({"register_wrong_oldkey_eacces", "pr", [] {
                 auto a = open_host('a');
                 reg(*a, 0, kKeyA);
                 reg(*a, 0xDEAD, kKeyB, false, EACCES);
                 auto k = inkeys(*a);
                 EXPECT(k.keys == std::vector<uint64_t>{kKeyA}, "key unchanged");
               }});
  s.push_back({"register_change_and_unregister", "pr", [] {
                 auto a = open_host('a');
                 reg(*a, 0, kKeyA);
                 reg(*a, kKeyA, kKeyC);
                 EXPECT(inkeys(*a).keys == std::vector<uint64_t>{kKeyC}, "key changed to C");
                 reg(*a, kKeyC, 0);
                 EXPECT(inkeys(*a).listlen == 0, "unregistered");
               }});
  s.push_back({"registerandignorekey", "pr", [] {
                 auto a = open_host('a');
                 reg(*a, 0, kKeyA);
                 mhioc_registerandignorekey_t r{key(kKeyC), B_FALSE};
                 expect_rc(ioctl_(*a, MHIOCGRP_REGISTERANDIGNOREKEY, &r), 0, "A REGISTERANDIGNOREKEY");
                 EXPECT(inkeys(*a).keys == std::vector<uint64_t>{kKeyC}, "A's key replaced without the old one");
               }});
  s.push_back({"reserve_unregistered_eacces", "pr", [] {
                 auto a = open_host('a');
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE, EACCES);
               }});
  s.push_back({"reserve_and_inresv", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1, "one reservation");
                 EXPECT(value(r.list[0].key) == kKeyA, "held by A's key");
                 EXPECT(r.list[0].type == SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY, "type WE-RO (5)");
                 EXPECT(r.list[0].scope == SCSI3_SCOPE_LOGICALUNIT, "LU scope");
                 auto none = inresv(*b, 0);
                 EXPECT(none.listlen == 1, "listsize 0 still reports listlen 1");
               }});
  s.push_back({"reserve_conflict_between_registrants", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 resv(*b, kKeyB, SCSI3_RESV_WRITEEXCLUSIVE, EACCES);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);  // the holder again: GOOD
               }});
  s.push_back({"we_registrants_only_access", "pr", [] {
                 // A and B register, A reserves WE-RO: B (registrant) writes, the unregistered
                 // C cannot write but can read.
                 auto a = open_host('a'), b = open_host('b'), c = open_host('c');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 auto pb = pattern(*b, 'B', 1);
                 expect_rc(int(write_block(*b, pb)), 0, "B (registrant) writes");
                 expect_rc(int(write_block(*c, pattern(*c, 'C', 1))), EACCES, "C (unregistered) write");
                 EXPECT(read_block(*c) == pb, "C reads (WE) and sees B's data");
               }});
  s.push_back({"ea_registrants_only_blocks_reads", "pr", [] {
                 auto a = open_host('a'), c = open_host('c');
                 reg(*a, 0, kKeyA);
                 resv(*a, kKeyA, SCSI3_RESV_EXCLUSIVEACCESSREGISTRANTSONLY);
                 std::vector<uint8_t> b(mhd_block_size(c->h) ? mhd_block_size(c->h) : 512);
                 expect_rc(int(mhd_pread(c->h, b.data(), b.size(), 0)), EACCES, "C (unregistered) read under EA-RO");
                 mhd_handle_t* h = mhd_open(g_env->url.c_str(), host_name('c').c_str(), 0);
                 int e = errno;
                 if (h) mhd_close(h);
                 EXPECT(!h && e == EACCES, "C open without O_NDELAY refused with EACCES");
               }});
  s.push_back({"failfast_probe_sees_persistent_reservation", "pr", [] {
                 // TEST UNIT READY passes through a PR (SPC-3+); the probe's zero-length WRITE
                 // does not: B preempts A, A's failfast fires though A does no I/O.
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 enfailfast(*a, kProbeMs);
                 std::this_thread::sleep_for(std::chrono::milliseconds(3 * kProbeMs));
                 EXPECT(a->fired == 0, "quiet while A holds the reservation");
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 EXPECT(eventually([&] { return a->fired > 0; }, 10ms), "A's failfast fired");
                 EXPECT(status(*a) == 0, "MHIOCSTATUS (TEST UNIT READY) still says 0: the caveat");
               }});
  s.push_back({"preempt", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyB, "B holds the reservation");
                 EXPECT(inkeys(*b).keys == std::vector<uint64_t>{kKeyB}, "A's registration removed");
                 reg(*a, kKeyA, kKeyA, false, EACCES);  // A is no longer registered with that key
               }});
  s.push_back({"preempt_unknown_victim_eacces", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, 0x5555, SCSI3_RESV_WRITEEXCLUSIVE, EACCES);
               }});
  s.push_back({"preemptandabort_fences_writer", "pr", [] {
                 // The Veritas/Sun Cluster fence: A and B register, A reserves WE-RO and keeps
                 // writing a 4 MiB region (each write is 4 WRITE(10)s queued at once) with
                 // failfast on; B PREEMPT AND ABORTs A. A's failfast fires, A's writes fail, and
                 // none of A's queued writes lands on the medium after the preempt: once B has
                 // written the region, every block of it is B's.
                 auto a = open_host('a'), b = open_host('b'), c = open_host('c');
                 mhd_set_param(a->h, MHD_PARAM_COMMAND_TIMEOUT_S, kAbortedTimeoutS);
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 expect_rc(int(write_block(*c, pattern(*c, 'C', 0))), EACCES, "C (unregistered) write");
                 enfailfast(*a, kProbeMs);
                 std::atomic<uint32_t> written{0};
                 std::atomic<bool> stop{false};
                 std::atomic<int> last_errno{0};
                 std::thread writer([&] {
                   for (uint32_t seq = 1; !stop; ++seq) {
                     auto data = region_pattern(*a, 'A', seq);
                     if (mhd_pwrite(a->h, data.data(), data.size(), kRegionOffset) < 0) {
                       last_errno = errno;
                       return;
                     }
                     written = seq;
                   }
                 });
                 struct Joiner {  // a failed expectation below must not leave the writer running
                   std::atomic<bool>& stop;
                   std::thread& t;
                   ~Joiner() {
                     stop = true;
                     if (t.joinable()) t.join();
                   }
                 } joiner{stop, writer};
                 eventually([&] { return written >= 5; }, 5ms);
                 preempt(*b, MHIOCGRP_PREEMPTANDABORT, kKeyB, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 uint32_t at_preempt = written;
                 auto pb = region_pattern(*b, 'B', 0xffff);
                 ssize_t wb = mhd_pwrite(b->h, pb.data(), pb.size(), kRegionOffset);
                 int wb_errno = errno;
                 bool fired = eventually([&] { return a->fired > 0; }, 5ms);
                 stop = true;
                 writer.join();
                 EXPECT(at_preempt >= 5, "A's writer was writing (" + std::to_string(at_preempt) + " region writes)");
                 EXPECT(wb >= 0, "B writes after the preempt: " + fmt_errno(wb_errno));
                 EXPECT(fired, "A's failfast fired");
                 EXPECT(last_errno != 0, "A's writes failed after the preempt");
                 std::vector<uint8_t> now(pb.size());
                 expect_rc(int(mhd_pread(b->h, now.data(), now.size(), kRegionOffset)), 0, "B reads the region");
                 size_t bs = pb.size() / kRegionBlocksFor(pb.size(), *b);
                 for (size_t off = 0; off < now.size(); off += bs)
                   EXPECT(std::memcmp(now.data() + off, pb.data() + off, bs) == 0,
                          "block " + std::to_string(off / bs) + " of the region holds B's data, not '" +
                              std::string(1, char(now[off])) + "'");
                 EXPECT(inkeys(*b).keys == std::vector<uint64_t>{kKeyB}, "only B registered");
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyB, "B holds the reservation");
                 g_note = "A: " + std::to_string(at_preempt) + " region writes before the preempt, then " +
                          fmt_errno(last_errno);
               }});
  s.push_back({"persistent_reservation_survives_lu_reset", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 resv(*a, kKeyA, SCSI3_RESV_EXCLUSIVEACCESS);
                 lun_reset_from('c');
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyA, "A's reservation after the LU reset");
                 EXPECT(inkeys(*b).keys == std::vector<uint64_t>{kKeyA}, "A's registration after the LU reset");
               }});
  s.push_back({"tkown_cannot_break_persistent_reservation", "pr", [] {
                 // Never mix: a host using the SCSI-2 requests against a disk under a PR. RESERVE
                 // conflicts while registrations exist (SPC-2, kept by SPC-4 with the CRH exceptions), and the resets
                 // TKOWN sends do not remove persistent reservations: EACCES.
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 expect_rc(ioctl_(*b, MHIOCQRESERVE), EACCES, "B QRESERVE");
                 expect_rc(ioctl_(*b, MHIOCTKOWN, &kFastTkown), EACCES, "B TKOWN");
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyA, "A's reservation stands");
               }});
  s.push_back({"pr_requests_conflict_under_scsi2_reservation", "pr", [] {
                 // The other direction of "never mix": while a SCSI-2 reservation exists, every
                 // PR IN and PR OUT conflicts, whoever sends it (SPC-2, kept by SPC-4).
                 auto a = open_host('a'), b = open_host('b');
                 expect_rc(ioctl_(*a, MHIOCQRESERVE), 0, "A QRESERVE");
                 std::vector<mhioc_resv_key_t> list(4);
                 mhioc_key_list_t li{4, 0, list.data()};
                 mhioc_inkeys_t in{0, &li};
                 expect_rc(ioctl_(*b, MHIOCGRP_INKEYS, &in), EACCES, "B INKEYS");
                 reg(*b, 0, kKeyB, false, EACCES);
                 // SPC-2: "regardless of initiator": the holder's own PR requests too.
                 expect_rc(ioctl_(*a, MHIOCGRP_INKEYS, &in), EACCES, "A (the holder) INKEYS");
                 reg(*a, 0, kKeyA, false, EACCES);
               }});
  s.push_back({"preempt_zero_key_einval", "pr", [] {
                 // PREEMPT with SERVICE ACTION RESERVATION KEY 0 under a non-all-registrants
                 // reservation: ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST (SPC-4 table 72).
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, 0, SCSI3_RESV_WRITEEXCLUSIVE, EINVAL);
                 auto r = inresv(*b);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyA, "A still holds");
               }});
  s.push_back({"holder_cannot_change_type_with_reserve", "pr", [] {
                 auto a = open_host('a');
                 reg(*a, 0, kKeyA);
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 resv(*a, kKeyA, SCSI3_RESV_EXCLUSIVEACCESS, EACCES);
                 auto r = inresv(*a);
                 EXPECT(r.listlen == 1 && r.list[0].type == SCSI3_RESV_WRITEEXCLUSIVE, "type unchanged (WE)");
               }});
  s.push_back({"generation_counts_only_registration_changes", "pr", [] {
                 // PRgeneration: +1 for REGISTER/RIEK/CLEAR/PREEMPT(AND ABORT), not for RESERVE,
                 // PR IN, or a command that failed (SPC-4).
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 uint32_t g = inkeys(*a).generation;
                 resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 EXPECT(inkeys(*a).generation == g, "RESERVE leaves the generation");
                 reg(*b, 0xBAD, kKeyB, false, EACCES);
                 EXPECT(inkeys(*a).generation == g, "a failed REGISTER leaves the generation");
                 mhioc_registerandignorekey_t r{key(kKeyB), B_FALSE};
                 expect_rc(ioctl_(*b, MHIOCGRP_REGISTERANDIGNOREKEY, &r), 0, "B REGISTERANDIGNOREKEY");
                 EXPECT(inkeys(*a).generation == g + 1, "RIEK +1");
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, kKeyA, SCSI3_RESV_WRITEEXCLUSIVE);
                 EXPECT(inkeys(*a).generation == g + 2, "PREEMPT +1");
               }});
  s.push_back({"shared_key_listed_per_host", "pr", [] {
                 // Keys may be shared; READ KEYS lists one per registered I_T nexus.
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyA);
                 auto k = inkeys(*a);
                 EXPECT(k.listlen == 2 && k.keys == (std::vector<uint64_t>{kKeyA, kKeyA}), "key A twice, got listlen " +
                                                                                             std::to_string(k.listlen));
               }});
  s.push_back({"fenced_host_registers_again", "pr", [] {
                 // After being preempted, a host rejoins with REGISTER (its old key is gone).
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*b, kKeyB, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 preempt(*b, MHIOCGRP_PREEMPT, kKeyB, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                 expect_rc(int(write_block(*a, pattern(*a, 'A', 7))), EACCES, "A (preempted) write");
                 reg(*a, 0, kKeyC);
                 expect_rc(int(write_block(*a, pattern(*a, 'A', 8))), 0, "A (registered again) write under WE-RO");
               }});
  s.push_back({"clear_removes_everything", "pr", [] {
                 auto a = open_host('a'), b = open_host('b');
                 reg(*a, 0, kKeyA);
                 reg(*b, 0, kKeyB);
                 resv(*a, kKeyA, SCSI3_RESV_EXCLUSIVEACCESS);
                 uint32_t g = inkeys(*b).generation;
                 mhioc_resv_key_t k = key(kKeyB);
                 expect_rc(ioctl_(*b, MHIOCGRP_CLEAR, &k), 0, "B CLEAR");
                 auto ks = inkeys(*a);
                 EXPECT(ks.listlen == 0, "no registrations");
                 EXPECT(ks.generation == g + 1, "generation +1");
                 EXPECT(inresv(*a).listlen == 0, "no reservation");
               }});
  s.push_back({"clear_unregistered_eacces", "pr", [] {
                 auto a = open_host('a'), c = open_host('c');
                 reg(*a, 0, kKeyA);
                 mhioc_resv_key_t k = key(kKeyC);
                 expect_rc(ioctl_(*c, MHIOCGRP_CLEAR, &k), EACCES, "C CLEAR");
                 EXPECT(inkeys(*a).listlen == 1, "A still registered");
               }});
  s.push_back({"aptpl_across_target_restart", "pr", [] {
                 if (!g_env->restart) throw Skipped("no way to restart the target (--restart-cmd)");
                 uint32_t gen;
                 {
                   auto a = open_host('a'), b = open_host('b');
                   reg(*a, 0, kKeyA, true);
                   reg(*b, 0, kKeyB, true);
                   resv(*a, kKeyA, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
                   gen = inkeys(*a).generation;
                 }
                 g_env->restart();
                 auto a = open_host('a'), c = open_host('c');
                 auto k = inkeys(*a);
                 EXPECT(k.listlen == 2, "two registrations after the restart, got " + std::to_string(k.listlen));
                 EXPECT(k.generation == gen, "generation kept");
                 auto r = inresv(*a);
                 EXPECT(r.listlen == 1 && value(r.list[0].key) == kKeyA &&
                            r.list[0].type == SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY,
                        "A's WE-RO reservation after the restart");
                 expect_rc(int(write_block(*c, pattern(*c, 'C', 9))), EACCES, "C (unregistered) write after the restart");
               }});
  // ---------------------------------------------------------------- the API itself
  s.push_back({"unsupported_requests_enotty", "api", [] {
                 auto a = open_host('a');
                 expect_rc(ioctl_(*a, MHIOCREREGISTERDEVID), ENOTTY, "MHIOCREREGISTERDEVID");
                 expect_rc(ioctl_(*a, MHIOC | 0x7f), ENOTTY, "unknown request");
                 expect_rc(ioctl_(*a, MHIOCENFAILFAST, nullptr), EFAULT, "MHIOCENFAILFAST(NULL)");
                 expect_rc(ioctl_(*a, MHIOCGRP_INKEYS, nullptr), 0, "MHIOCGRP_INKEYS(NULL) does nothing");
                 mhioctkown bad{0, -1, 0};
                 expect_rc(ioctl_(*a, MHIOCTKOWN, &bad), EINVAL, "MHIOCTKOWN with a negative delay");
               }});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mhd_harness: libmhd's multi-host scenarios against an iSCSI target"};
  std::string url, stmfd, restart_cmd, only;
  bool list = false, strict = false, verbose = false;
  app.add_option("--url", url, "iSCSI URL of the LU under test (iscsi://host:port/iqn/lun)");
  app.add_option("--stmfd", stmfd, "start this stmfd on loopback and test its LU 0");
  app.add_option("--restart-cmd", restart_cmd, "shell command that restarts the target (same URL after)");
  app.add_option("--only", only, "run the scenarios whose name contains this");
  app.add_flag("--list", list, "list the scenarios and exit");
  app.add_flag("--strict", strict, "an operation the target does not support (ENOTSUP) fails the scenario");
  app.add_flag("--verbose,-v", verbose, "libmhd's info lines too (default: warnings and failfast)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);
  if (list) {
    for (auto& s : scenarios()) std::printf("%-8s %s\n", s.category, s.name);
    return 0;
  }
  if (url.empty() == stmfd.empty()) {
    std::fprintf(stderr, "mhd_harness: give exactly one of --url and --stmfd\n");
    return 2;
  }
  Env env;
  std::unique_ptr<stmf::test::Daemon> daemon;
  if (!stmfd.empty()) {
    ::setenv("STMFD", stmfd.c_str(), 1);
    daemon = std::make_unique<stmf::test::Daemon>();
    env.url = daemon->url(0);
    env.restart = [&] {
      if (daemon->terminate(10) == -1) daemon->kill9();
      daemon->restart();
    };
  } else {
    env.url = url;
    if (!restart_cmd.empty())
      env.restart = [restart_cmd] {
        if (std::system(restart_cmd.c_str()) != 0) throw Failure("restart command failed: " + restart_cmd);
      };
  }
  g_env = &env;
  int passed = 0, failed = 0, skipped = 0;
  for (auto& s : scenarios()) {
    if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
    std::string detail;
    char verdict;
    auto t0 = Clock::now();
    g_note.clear();
    try {
      clean_lu();
      s.run();
      verdict = 'P';
      detail = g_note;
    } catch (const Unsupported& e) {
      verdict = strict ? 'F' : 'S';
      detail = e.what();
    } catch (const Skipped& e) {
      verdict = 'S';
      detail = e.what();
    } catch (const std::exception& e) {
      verdict = 'F';
      detail = e.what();
    }
    try {
      clean_lu();
    } catch (const std::exception& e) {
      if (verdict == 'P') {
        verdict = 'F';
        detail = std::string("cleanup: ") + e.what();
      }
    }
    long ms = long(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    const char* word = verdict == 'P' ? "PASS" : verdict == 'S' ? "SKIP" : "FAIL";
    std::printf("%s %-6s %-45s %5ld ms%s%s\n", word, s.category, s.name, ms, detail.empty() ? "" : "  ", detail.c_str());
    std::fflush(stdout);
    (verdict == 'P' ? passed : verdict == 'S' ? skipped : failed)++;
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 ? 0 : 1;
}
