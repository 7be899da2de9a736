// The ALUA pair on one RBD image, fenced through Ceph (label `ceph`; docs/rbd.md "Fencing",
// core/store/fencing.h): both nodes configure the same image; the owner holds its exclusive
// lock; a planned switchover moves the lock and blocklists nobody; a takeover after the link is
// cut (the old owner still reaches the cluster) breaks the owner's lock, which blocklists its
// client, so its writes are refused by the OSDs and its LU reports fenced. Every write is
// stamped with its sequence number and goes to a block of its own; the image read with
// `rbd export` afterwards says which landed.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/ceph/cluster.h"
#include "test/integration/daemon.h"
#include "test/integration/fencing_util.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;
using stmf::test::past_ua;
using stmf::test::ceph::Cluster;
using stmf::test::ceph::cluster;
using stmf::test::ceph::exported;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace stmf::test::fencing;

namespace {

constexpr uint32_t kCluster = 7;
constexpr uint64_t kImageMiB = 16;

// The link between the nodes runs through this relay (node 0 connects to it, it connects to
// node 1's listener): cut() closes every connection and refuses new ones, both daemons live on.
class Relay {
 public:
  explicit Relay(uint16_t to) : to_(to) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(lfd_, 8) == 0);
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() {
    cut();
    stop_ = true;
    thread_.join();
    ::close(lfd_);
  }
  uint16_t port() const { return port_; }
  void cut() { cut_ = true; }

 private:
  static int dial(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  void run() {
    std::vector<std::pair<int, int>> pairs;  // (from node 0, to node 1)
    auto close_all = [&] {
      for (auto [x, y] : pairs) ::close(x), ::close(y);
      pairs.clear();
    };
    while (!stop_) {
      std::vector<pollfd> p{{lfd_, POLLIN, 0}};
      for (auto [x, y] : pairs) p.push_back({x, POLLIN, 0}), p.push_back({y, POLLIN, 0});
      if (::poll(p.data(), p.size(), 50) < 0) continue;
      if (cut_) {
        close_all();
        if (p[0].revents & POLLIN) ::close(::accept(lfd_, nullptr, nullptr));  // refused: closed at once
        continue;
      }
      if (p[0].revents & POLLIN) {
        int c = ::accept(lfd_, nullptr, nullptr);
        int u = c >= 0 ? dial(to_) : -1;
        if (u >= 0) pairs.emplace_back(c, u);
        else if (c >= 0) ::close(c);
      }
      std::vector<size_t> dead;
      for (size_t i = 0; i < pairs.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          if (!(p[1 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          const int from = side ? pairs[i].second : pairs[i].first, to = side ? pairs[i].first : pairs[i].second;
          char buf[65536];
          ssize_t n = ::read(from, buf, sizeof buf);
          bool ok = n > 0;
          for (ssize_t off = 0; ok && off < n;) {
            ssize_t w = ::write(to, buf + off, size_t(n - off));
            if (w <= 0) ok = false;
            else off += w;
          }
          if (!ok) {
            dead.push_back(i);
            break;
          }
        }
      }
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        ::close(pairs[*it].first), ::close(pairs[*it].second);
        pairs.erase(pairs.begin() + long(*it));
      }
    }
    close_all();
  }

  uint16_t to_, port_ = 0;
  int lfd_ = -1;
  std::atomic<bool> cut_{false}, stop_{false};
  std::thread thread_;
};

constexpr const char* kLuGuid = "600144F0E90011ECD4B2A306CB6406E1";

// Node `node` of the pair, takeover fenced, cluster id set: node 1 listens on `listen_port`;
// node 0 reaches it at `peer_port` (the relay) and owns the rbd LU; node 1 has a standby record
// of it (the same image, its own view), so it serves the LU once it owns it.
DaemonOptions pair_node(const Cluster& c, const std::string& image, int node, uint16_t listen_port, uint16_t peer_port) {
  const std::string backend = "\"backend\": {\"pool\": \"rbd\", \"image\": \"" + image + "\", \"conf\": \"" + c.conf() +
                              "\", \"keyring\": \"" + c.keyring() + "\", \"op_timeout_s\": 5}";
  DaemonOptions o;
  if (node == 0) {
    o.store = "rbd";
    o.size = "0";
    o.lun0_json_extra = ", " + backend + ", \"guid\": \"" + kLuGuid + "\"";
  } else {
    o.luns = 0;
  }
  o.top_json_extra = "\"alua\": {\"enabled\": true, \"node\": " + std::to_string(node) + ", \"insecure\": true, " +
                     (node == 0 ? "\"peer\": \"127.0.0.1:" + std::to_string(peer_port) + "\""
                                : "\"listen\": \"127.0.0.1:" + std::to_string(listen_port) + "\", \"peer\": \"127.0.0.1:1\"") +
                     ", \"heartbeat_ms\": 100, \"timeout_ms\": 500, \"cluster_id\": " + std::to_string(kCluster) +
                     ", \"takeover\": \"fenced\"}, ";
  if (node == 1)
    o.top_json_extra += std::string("\"lus\": [{\"guid\": \"") + kLuGuid + "\", \"store\": \"rbd\", \"standby\": true, " +
                        backend + "}], \"views\": [{\"guid\": \"" + kLuGuid + "\", \"lun\": 0}], ";
  return o;
}




// The pair on image `image` of the cluster: node 1 (standby, its link listener behind the relay)
// started first, then node 0 (the owner); ready when node 1 has the LU standby.
struct PairOnImage {
  PairOnImage(const Cluster& c, const std::string& image)
      : created(c.rbd("create rbd/" + image + " --size " + std::to_string(kImageMiB) + "M") == 0),
        link_port(stmf::test::free_port()), relay(link_port), b(pair_node(c, image, 1, link_port, 0)),
        a(pair_node(c, image, 0, 0, relay.port())), ma(a.socket_path()), mb(b.socket_path()) {
    REQUIRE(created);
    guid = the_lu(ma);
    REQUIRE(wait_for([&] { return access_state_is(mb, guid, "standby"); }, 20s));
  }
  bool created;  // the image, before node 0 opens it
  uint16_t link_port;
  Relay relay;
  Daemon b, a;
  Client ma, mb;
  std::string guid;
};

// Stamped writes through `c` (seq + 1, seq + 2, ...) until one is GOOD (the LU is held until the
// link is up); `seq` is then the acknowledged one.
bool first_good_write(Ctx& c, uint64_t& seq) {
  return wait_for([&] {
    Task t(write_stamped(c, ++seq));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 20s);
}

// The stamped write `seq` through `c`, again until GOOD (unit attentions of a new owner first).
bool write_until_good(Ctx& c, uint64_t seq) {
  std::string last;
  const bool ok = wait_for([&] {
    Task t(write_stamped(c, seq));
    if (!t) last = "no answer";
    else last = "status " + std::to_string(t->status) + " sense " + std::to_string(t->sense.key) + "/" + std::to_string(t->sense.ascq);
    return t && t->status == SCSI_STATUS_GOOD;
  }, 20s);
  INFO("the last answer: " << last);
  CHECK(ok);
  return ok;
}

// Entries of the cluster's blocklist ("ceph osd blocklist ls": one address per line).
size_t blocklisted(const Cluster& c) {
  const std::string out = c.output("ceph", "osd blocklist ls");
  size_t n = 0;
  for (size_t at = 0; (at = out.find(":0/", at)) != std::string::npos; ++at) ++n;
  return n;
}

}  // namespace

TEST_CASE("rbd fencing: the link cut, the standby breaks the owner's lock and blocklists it, no write of the old "
          "owner lands after, every acknowledged one is there",
          "[ceph][rbd_fencing]") {
  auto& c = cluster();
  PairOnImage p(c, "pair");
  Daemon &a = p.a, &b = p.b;
  Client &ma = p.ma, &mb = p.mb;
  const std::string guid = p.guid;
  const uint64_t epoch = get_lu(ma, guid).value("epoch", uint64_t(0));

  Ctx ac("iqn.2026-12.org.example:writer");
  REQUIRE(login(ac, a));
  uint64_t seq = 0;
  REQUIRE(first_good_write(ac, seq));
  CHECK(get_lu(ma, guid)["fenced"] == false);
  // Node 0 holds the image's exclusive lock; nobody is blocklisted.
  CHECK(wait_for([&] { return a.log_text().find("holds the image's exclusive lock now") != std::string::npos; }, 10s));
  CHECK(c.output("rbd", "lock ls rbd/pair").find("auto ") != std::string::npos);
  CHECK(blocklisted(c) == 0);

  // A writer streams stamped blocks through node 0, one at a time.
  std::atomic<uint64_t> issued{seq};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<uint64_t, int> answers{{seq, SCSI_STATUS_GOOD}};
  std::vector<std::pair<int, int>> senses;  // key, ascq of CHECK CONDITIONs
  std::thread writer([&] {
    while (!stop) {
      const uint64_t s = issued + 1;
      issued = s;
      Task t(write_stamped(ac, s));
      const int st = t ? t->status : -1;
      {
        std::lock_guard lk(mu);
        answers[s] = st;
        if (t && st == SCSI_STATUS_CHECK_CONDITION) senses.emplace_back(t->sense.key, t->sense.ascq);
      }
      if (st != SCSI_STATUS_GOOD) std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(500ms);

  // The link is cut; node 0 still reaches the cluster. Node 1 takes the LU over after
  // timeout_ms: it breaks node 0's lock (node 0 blocklisted) and serves with the epoch raised.
  p.relay.cut();
  const bool taken = wait_for([&] {
    json r;
    return mb.call("get-lu", {{"guid", guid}}, r).ok() && r["lu"].value("access_state", "") == "active" &&
           r["lu"].value("epoch", uint64_t(0)) == epoch + 1;
  }, 30s);
  const uint64_t issued_at_takeover = issued.load();
  INFO("node 1 log:\n" << b.log_text());
  REQUIRE(taken);
  CHECK(b.log_text().find("won the race at the storage") != std::string::npos);
  CHECK(blocklisted(c) == 1);
  // Node 0 is fenced: its store saw EBLOCKLISTED and its LU stops (Transitioning).
  CHECK(wait_for([&] { return get_lu(ma, guid)["fenced"] == true; }, 20s));
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();
  CHECK(a.log_text().find("blocklisted") != std::string::npos);

  // Node 1 serves writes of its own (it holds the lock now).
  Ctx bc("iqn.2026-12.org.example:writer-b");
  REQUIRE(login(bc, b));
  const uint64_t on_b = issued.load() + 100;
  CHECK(write_until_good(bc, on_b));

  // The image as the cluster has it: every acknowledged write of node 0 is there, none issued
  // after the takeover landed, nothing refused landed; node 1's write is there.
  const uint64_t last = issued.load();
  auto img = exported(c, "pair", kFirstLba * kBlock, size_t(on_b + 1) * kBlock);
  size_t acked = 0, refused = 0, acked_missing = 0, refused_landed = 0, after = 0, landed_after = 0;
  for (auto [s, st] : answers) {
    const bool there = stamp_of(img.data() + s * kBlock) == s;
    if (st == SCSI_STATUS_GOOD) {
      ++acked;
      if (!there) ++acked_missing;
    } else {
      ++refused;
      if (there) ++refused_landed;
    }
    if (s > issued_at_takeover) {
      ++after;
      if (stamp_of(img.data() + s * kBlock) != 0) ++landed_after;
    }
  }
  INFO("writes through node 0: " << answers.size() << ", acknowledged " << acked << ", refused " << refused
                                 << ", issued after the takeover " << after << " (last " << last << ")");
  CHECK(acked > 10);
  CHECK(after > 5);
  CHECK(acked_missing == 0);
  CHECK(refused_landed == 0);
  CHECK(landed_after == 0);
  CHECK(stamp_of(img.data() + on_b * kBlock) == on_b);
  // The fenced node's answers: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (or held before).
  REQUIRE(!senses.empty());
  CHECK(senses.back() == std::pair<int, int>{SCSI_SENSE_NOT_READY, 0x040a});
}

TEST_CASE("rbd fencing: a planned switchover moves the exclusive lock, keeps the data and blocklists nobody",
          "[ceph][rbd_fencing]") {
  auto& c = cluster();
  PairOnImage p(c, "switch");
  Daemon &a = p.a, &b = p.b;
  Client &ma = p.ma, &mb = p.mb;
  const std::string guid = p.guid;

  Ctx ac("iqn.2026-12.org.example:writer");
  REQUIRE(login(ac, a));
  uint64_t seq = 0;
  REQUIRE(first_good_write(ac, seq));
  const uint64_t first = seq;  // the ones before were refused (held until the link was up)
  for (int i = 0; i < 20; ++i) {
    Task t(write_stamped(ac, ++seq));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  }
  const uint64_t before = seq;
  json r;
  auto st = ma.call("switchover-lu", {{"guid", guid}}, r);
  INFO(st.message << "\nnode 1 log:\n" << b.log_text() << "\nnode 0 log:\n" << a.log_text());
  REQUIRE(st.ok());
  REQUIRE(wait_for([&] { return access_state_is(mb, guid, "active"); }, 20s));
  CHECK(wait_for([&] { return access_state_is(ma, guid, "standby"); }, 20s));

  // Node 1 writes (once it holds the lock: node 0 closed the image when it stepped down).
  Ctx bc("iqn.2026-12.org.example:writer-b");
  REQUIRE(login(bc, b));
  const uint64_t on_b = seq + 1;
  INFO("locks: " << c.output("rbd", "lock ls rbd/switch") << "status: " << c.output("rbd", "status rbd/switch"));
  CHECK(write_until_good(bc, on_b));
  INFO("locks: " << c.output("rbd", "lock ls rbd/switch") << "status: " << c.output("rbd", "status rbd/switch"));
  CHECK(get_lu(mb, guid)["fenced"] == false);
  CHECK(blocklisted(c) == 0);
  const std::string blog = b.log_text();
  CHECK(blog.find("holds the image's exclusive lock now") != std::string::npos);

  auto img = exported(c, "switch", kFirstLba * kBlock, size_t(on_b + 1) * kBlock);
  for (uint64_t s = first; s <= before; ++s) {
    INFO("write " << s);
    CHECK(stamp_of(img.data() + s * kBlock) == s);
  }
  CHECK(stamp_of(img.data() + on_b * kBlock) == on_b);
}

TEST_CASE("rbd fencing: an owner killed while holding the lock comes back and serves once librbd breaks the dead "
          "client's lock",
          "[ceph][rbd_fencing]") {
  auto& c = cluster();
  REQUIRE(c.rbd("create rbd/restart --size " + std::to_string(kImageMiB) + "M") == 0);
  // Node 0 alone (its peer absent): the LU is held for timeout_ms, then served here.
  Daemon a(pair_node(c, "restart", 0, 0, stmf::test::free_port()));
  {
    Ctx ac("iqn.2026-12.org.example:writer");
    REQUIRE(login(ac, a));
    uint64_t seq = 0;
    REQUIRE(first_good_write(ac, seq));
  }
  a.kill9();  // its client still owns the image's exclusive lock, and its watch lives on a while
  a.restart();
  Ctx ac("iqn.2026-12.org.example:writer");
  REQUIRE(login(ac, a));
  // The new instance waits for the lock (the dead owner's watch expires), then takes it.
  std::string last;
  const bool served = wait_for([&] {
    Task t(write_stamped(ac, 7));
    last = t ? "status " + std::to_string(t->status) : "no answer";
    return t && t->status == SCSI_STATUS_GOOD;
  }, 90s);
  INFO("the last answer: " << last << "\nlog:\n" << a.log_text());
  CHECK(served);
  CHECK(stamp_of(exported(c, "restart", (kFirstLba + 7) * kBlock, kBlock).data()) == 7);
  CHECK(blocklisted(c) == 1);  // the dead instance, by librbd's break
}
