// tools/stmfd/session_acct.h against the real framework: a record per ended session, checkpoint
// and flushed records, the open-sessions journal turned into "abnormal" records at start,
// rotation at max_bytes, both formats in one file.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/recording_port_test_util.h"
#include "core/stmf.h"
#include "tools/stmfd/session_acct.h"

using namespace stmfd;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/stmf-acct-test-XXXXXX";
    REQUIRE(::mkdtemp(t));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<acct::Record> records(const std::string& p) {
  size_t bad = 0;
  auto v = acct::read_records(slurp(p), bad);
  CHECK(bad == 0);
  return v;
}

// A framework with one port whose session listener is a started SessionAccounting writing to
// `file` (rotated at `max_bytes`): the setup of every test that logs sessions in and out.
struct Accounted {
  TempDir d;
  const std::string file = d.path + "/acct";
  stmf::Stmf fw;
  stmf::test::RecordingPort port{"iqn.2026-11.org.example:t,t,0x0001", 1};
  SessionAccounting a;
  Accounted(uint16_t node, uint64_t max_bytes) : a(fw, node) {
    fw.add_port(port);
    std::string why;
    REQUIRE(a.start(file, max_bytes, why));
    fw.set_session_listener(&a);
  }
};

}  // namespace

TEST_CASE("session accounting: a record per ended session, checkpoints and flushes", "[acct]") {
  Accounted f(0, 1u << 20);
  auto& fw = f.fw;
  auto& port = f.port;
  auto& a = f.a;
  const std::string& file = f.file;
  auto n = fw.create_nexus(port, "iqn.2026-11.org.example:h", "400001370000");
  REQUIRE(n->ash() != 0);
  a.checkpoint();
  a.flush(n);
  n->set_end_reason("logged out");
  a.set_format(2);
  fw.nexus_lost(n);
  fw.nexus_lost(n);  // lost twice: one record
  a.stop();
  fw.set_session_listener(nullptr);
  auto v = records(file);
  REQUIRE(v.size() == 3);
  CHECK(v[0].flags == acct::kFlagCheckpoint);
  CHECK(v[1].flags == (acct::kFlagCheckpoint | acct::kFlagFlushed));
  CHECK(v[2].flags == 0);
  CHECK(v[2].reason == "logged out");  // format 2 keeps it
  for (auto& r : v) {
    CHECK(r.ash == n->ash());
    CHECK(r.initiator == "iqn.2026-11.org.example:h,i,0x400001370000");
    CHECK(r.target == port.name);
    CHECK(r.node == 0);
    CHECK(r.spi.size() == 64);
  }
  CHECK(slurp(file + ".open").empty());  // nothing open any more
}

TEST_CASE("session accounting: a journal left by a killed daemon becomes abnormal records, once", "[acct]") {
  TempDir d;
  const std::string file = d.path + "/acct";
  acct::Record left;
  left.ash = 0x0001ffff00000009ll;
  left.flags = acct::kFlagCheckpoint;
  left.initiator = "iqn.2026-11.org.example:gone,i,0x400001370000";
  left.counters.bytes_written = 4096;
  {
    auto b = acct::encode_binary(left);
    std::ofstream(file + ".open", std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  }
  stmf::Stmf fw;
  for (int run = 0; run < 2; ++run) {
    SessionAccounting a(fw, acct::kNoNode);
    std::string why;
    REQUIRE(a.start(file, 1u << 20, why));
    a.stop();
  }
  auto v = records(file);
  REQUIRE(v.size() == 1);
  CHECK(v[0].flags == acct::kFlagAbnormal);
  CHECK(v[0].ash == left.ash);
  CHECK(v[0].counters.bytes_written == 4096);  // the last checkpoint's counters
}

TEST_CASE("session accounting: live sessions end with the daemon, and the file rotates at max_bytes", "[acct]") {
  Accounted f(1, 4096);  // six binary records fit
  auto& fw = f.fw;
  auto& port = f.port;
  auto& a = f.a;
  const std::string& file = f.file;
  std::vector<stmf::ItNexusPtr> live;
  for (int i = 0; i < 8; ++i) {
    char isid[13];
    std::snprintf(isid, sizeof isid, "4000013700%02d", i);
    live.push_back(fw.create_nexus(port, "iqn.2026-11.org.example:h", isid));
  }
  a.stop();  // eight "shutdown" records: 6 in the first file, rotated, 2 in the new one
  fw.set_session_listener(nullptr);
  auto old = records(file + ".1"), cur = records(file);
  CHECK(old.size() == 6);
  CHECK(cur.size() == 2);
  CHECK(std::filesystem::file_size(file) <= 4096);
  for (auto& r : cur) CHECK(r.node == 1);
}

TEST_CASE("session accounting: the minute timer checkpoints every checkpoint_min minutes", "[acct]") {
  Accounted f(acct::kNoNode, 1u << 20);
  auto& fw = f.fw;
  auto& port = f.port;
  auto& a = f.a;
  const std::string& file = f.file;
  auto n = fw.create_nexus(port, "iqn.2026-11.org.example:h", "400001370000");
  a.set_checkpoint_min(0);
  a.tick();  // 0: never
  a.set_checkpoint_min(2);
  a.tick();  // one minute
  a.tick();  // two: a checkpoint
  a.tick();
  a.tick();  // four: another
  fw.nexus_lost(n);
  a.stop();
  fw.set_session_listener(nullptr);
  auto v = records(file);
  REQUIRE(v.size() == 3);
  CHECK(v[0].flags == acct::kFlagCheckpoint);
  CHECK(v[1].flags == acct::kFlagCheckpoint);
  CHECK(v[2].flags == 0);
}

TEST_CASE("session accounting: records queued together are written with one sync (group commit)", "[acct]") {
  // 200 sessions: a checkpoint of all of them and the daemon's stop each cost one sync of the
  // file and one journal rewrite, not one per session (a login storm of 1,000 sessions took
  // ten seconds of fdatasyncs to drain at shutdown before).
  constexpr int kSessions = 200;
  Accounted f(acct::kNoNode, 1u << 24);
  auto& fw = f.fw;
  auto& port = f.port;
  auto& a = f.a;
  const std::string& file = f.file;
  std::vector<stmf::ItNexusPtr> live;
  for (int i = 0; i < kSessions; ++i) {
    char isid[13];
    std::snprintf(isid, sizeof isid, "40000137%04d", i);
    live.push_back(fw.create_nexus(port, "iqn.2026-11.org.example:h", isid));
  }
  a.wait_idle();
  CHECK(records(file + ".open").size() == size_t(kSessions));  // every login is in the journal
  const uint64_t s0 = a.syncs();
  a.checkpoint();
  a.wait_idle();
  CHECK(a.syncs() - s0 == 2);  // the file once, the journal once
  const uint64_t s1 = a.syncs();
  a.stop();
  fw.set_session_listener(nullptr);
  CHECK(a.syncs() - s1 == 2);
  auto v = records(file);
  REQUIRE(v.size() == size_t(2 * kSessions));
  CHECK(v.front().flags == acct::kFlagCheckpoint);
  CHECK(v.back().reason == "");  // format 1 carries no reason
  CHECK(slurp(file + ".open").empty());
}

TEST_CASE("session accounting: a session that ends while a batch is written stays in the journal until its record is synced",
          "[acct]") {
  // The race: a batch (here a checkpoint) is being written when a session ends on another
  // thread. That batch's journal rewrite must still list the session, because its "ended"
  // record is only queued: a crash before the next batch would otherwise leave the session in
  // neither file. The files a crash right after the first batch leaves: the accounting file as
  // it was when the session ended, and the journal as the first batch wrote it.
  Accounted f(acct::kNoNode, 1u << 20);
  auto n = f.fw.create_nexus(f.port, "iqn.2026-11.org.example:h", "400001370000");
  f.a.wait_idle();
  int batches = 0;
  std::vector<acct::Record> file_at_crash, journal_at_crash;
  f.a.set_before_journal([&] {
    if (++batches == 1) {
      f.fw.nexus_lost(n);  // queued behind this batch
      file_at_crash = records(f.file);
    } else if (batches == 2) {
      journal_at_crash = records(f.file + ".open");  // what batch 1 wrote
    }
  });
  f.a.checkpoint();
  f.a.wait_idle();
  f.a.set_before_journal(nullptr);
  REQUIRE(batches == 2);
  auto has = [&](const std::vector<acct::Record>& v, uint8_t flags) {
    return std::any_of(v.begin(), v.end(), [&](const acct::Record& r) { return r.ash == n->ash() && r.flags == flags; });
  };
  CHECK_FALSE(has(file_at_crash, 0));  // the ended record was not written yet
  CHECK(journal_at_crash.size() == 1);  // so the journal still lists the session
  // And once the record is synced, the journal lets it go: the session ends once.
  CHECK(has(records(f.file), 0));
  CHECK(records(f.file + ".open").empty());
  f.a.stop();
  f.fw.set_session_listener(nullptr);
  size_t ended = 0;
  for (auto& r : records(f.file)) ended += r.ash == n->ash() && r.flags == 0;
  CHECK(ended == 1);
}
