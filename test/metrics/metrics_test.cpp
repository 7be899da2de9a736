// Statistics against a real stmfd (label `metrics`, docs/metrics.md): known I/O through
// libiscsi, then the counters — on the metrics endpoint (GET /metrics), in get-stats and in
// list-sessions — equal exactly what the test did; the endpoint answers only GET /metrics,
// its scrape passes `promtool check metrics` (SKIPPED without promtool, scripts/deps.sh
// --test), and it stays bounded (connections, request size, timeout).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"

using namespace stmf::test;
using stmf::mgmt::Client;
using stmf::mgmt::json;

namespace {

constexpr const char* kInitiator = "iqn.2026-12.org.example:metrics";
constexpr uint32_t kBlock = 512;
constexpr uint32_t kIo = 4096;
constexpr int kWrites = 10, kReads4k = 7, kReads1 = 3;
constexpr uint32_t kMaxConnections = 2;
constexpr uint32_t kTimeoutMs = 500;

struct MetricsDaemon {
  uint16_t mport = free_port();
  Daemon d;
  explicit MetricsDaemon(bool statistics = true)
      : d([&] {
          DaemonOptions o;
          o.store = "ram";
          o.top_json_extra = R"("metrics": {"listen": "127.0.0.1:)" + std::to_string(mport) + R"(", "max_connections": )" +
                             std::to_string(kMaxConnections) + R"(, "timeout_ms": )" + std::to_string(kTimeoutMs) +
                             R"(, "statistics": )" + (statistics ? "true" : "false") + "}, ";
          return o;
        }()) {}
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};  // a test never hangs: reads give up after 10 s
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// One HTTP exchange: `request` sent as is; the whole answer (the server closes after it).
std::string http_exchange(uint16_t port, const std::string& request) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  (void)!::write(fd, request.data(), request.size());
  std::string r = read_all(fd);
  ::close(fd);
  return r;
}

struct Response {
  int status = 0;
  std::string body;
};

Response http(uint16_t port, const std::string& method, const std::string& path) {
  const std::string raw = http_exchange(port, method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  Response r;
  if (raw.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(raw.c_str() + 9);
  const auto p = raw.find("\r\n\r\n");
  if (p != std::string::npos) r.body = raw.substr(p + 4);
  return r;
}

// Samples of a scrape: "name{labels}" -> value.
std::map<std::string, double> parse(const std::string& text) {
  std::map<std::string, double> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return m;
}

// The value of `name` in the series whose labels contain `label` and `label2` (0 when none).
double value(const std::map<std::string, double>& m, const std::string& name, const std::string& label,
             const std::string& label2 = {}) {
  for (auto& [k, v] : m)
    if (k.rfind(name + "{", 0) == 0 && k.find(label) != std::string::npos && k.find(label2) != std::string::npos) return v;
  return 0;
}

json ok(Client& c, const std::string& op, const json& args = json::object()) {
  json r;
  auto s = c.call(op, args, r);
  INFO(op << ": " << s.message);
  REQUIRE(s.ok());
  return r;
}

// The known I/O: kWrites WRITE(10) of 4 KiB, kReads4k READ(10) of 4 KiB, kReads1 of one block.
void known_io(Ctx& ctx) {
  std::vector<uint8_t> data(kIo, 0x5a);
  for (int i = 0; i < kWrites; ++i) {
    Task t(iscsi_write10_sync(ctx, 0, uint32_t(i) * (kIo / kBlock), data.data(), kIo, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  }
  for (int i = 0; i < kReads4k; ++i) {
    Task t(iscsi_read10_sync(ctx, 0, uint32_t(i) * (kIo / kBlock), kIo, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  }
  for (int i = 0; i < kReads1; ++i) {
    Task t(iscsi_read10_sync(ctx, 0, uint32_t(i), kBlock, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  }
}

constexpr uint64_t kCommands = kWrites + kReads4k + kReads1;
constexpr uint64_t kBytesRead = uint64_t(kReads4k) * kIo + uint64_t(kReads1) * kBlock;
constexpr uint64_t kBytesWritten = uint64_t(kWrites) * kIo;

}  // namespace

TEST_CASE("metrics: the endpoint and get-stats and list-sessions count exactly the I/O done", "[metrics]") {
  MetricsDaemon md;
  Client c(md.d.socket_path());
  json st = ok(c, "get-stats");
  REQUIRE(st["lus"].size() == 1);
  const std::string guid = st["lus"][0]["guid"];
  const std::string lu = "lu=\"" + guid + "\"";

  Ctx ctx(kInitiator);
  REQUIRE(login_normal(ctx, md.d.iqn(), md.d.portal()));
  clear_unit_attentions(ctx);
  auto before = parse(http(md.mport, "GET", "/metrics").body);
  known_io(ctx);
  const Response after_r = http(md.mport, "GET", "/metrics");
  REQUIRE(after_r.status == 200);
  auto after = parse(after_r.body);

  // The LU: reads and writes only from known_io (login sent none), commands as a difference.
  CHECK(value(after, "stmf_lu_reads_total", lu) == kReads4k + kReads1);
  CHECK(value(after, "stmf_lu_writes_total", lu) == kWrites);
  CHECK(value(after, "stmf_lu_read_bytes_total", lu) == kBytesRead);
  CHECK(value(after, "stmf_lu_written_bytes_total", lu) == kBytesWritten);
  CHECK(value(after, "stmf_lu_commands_total", lu) - value(before, "stmf_lu_commands_total", lu) == kCommands);
  CHECK(value(after, "stmf_lu_latency_seconds_count", lu) == value(after, "stmf_lu_commands_total", lu));
  CHECK(value(after, "stmf_lu_latency_seconds_bucket", lu, "le=\"+Inf\"") == value(after, "stmf_lu_commands_total", lu));
  CHECK(value(after, "stmf_lu_in_flight", lu) == 0);
  CHECK(value(after, "stmf_lu_errors_total", lu, "class=\"reservation_conflict\"") == 0);
  // The target port and the session see the same I/O.
  const std::string port = "port=\"" + md.d.iqn() + ",t,0x0001\"";
  CHECK(value(after, "stmf_port_read_bytes_total", port) == kBytesRead);
  CHECK(value(after, "stmf_port_written_bytes_total", port) == kBytesWritten);
  const std::string ini = std::string("initiator=\"") + kInitiator + "\"";
  CHECK(value(after, "stmf_session_read_bytes_total", ini) == kBytesRead);
  CHECK(value(after, "stmf_session_commands_total", ini) - value(before, "stmf_session_commands_total", ini) == kCommands);

  // get-stats (JSON) agrees, and list-sessions carries the session's counters.
  st = ok(c, "get-stats");
  REQUIRE(st["sessions"].size() == 1);
  auto& ss = st["sessions"][0]["stats"];
  CHECK(ss["reads"] == kReads4k + kReads1);
  CHECK(ss["writes"] == kWrites);
  CHECK(ss["bytes_read"] == kBytesRead);
  CHECK(ss["bytes_written"] == kBytesWritten);
  CHECK(st["lus"][0]["stats"]["bytes_written"] == kBytesWritten);
  json ls = ok(c, "list-sessions", {{"target", md.d.iqn()}});
  REQUIRE(ls["sessions"].size() == 1);
  CHECK(ls["sessions"][0]["stats"]["bytes_read"] == kBytesRead);
  CHECK(ls["sessions"][0]["stats"]["commands"] == ss["commands"]);
}

TEST_CASE("metrics: statistics off counts nothing", "[metrics]") {
  MetricsDaemon md(false);
  Ctx ctx(kInitiator);
  REQUIRE(login_normal(ctx, md.d.iqn(), md.d.portal()));
  clear_unit_attentions(ctx);
  known_io(ctx);
  auto m = parse(http(md.mport, "GET", "/metrics").body);
  CHECK(m.count("stmf_statistics_enabled") == 1);
  CHECK(m.at("stmf_statistics_enabled") == 0);
  for (auto& [k, v] : m)
    if (k.rfind("stmf_lu_commands_total", 0) == 0) CHECK(v == 0);
}

TEST_CASE("metrics: only GET /metrics is served and promtool accepts the scrape", "[metrics]") {
  MetricsDaemon md;
  {
    Ctx ctx(kInitiator);
    REQUIRE(login_normal(ctx, md.d.iqn(), md.d.portal()));
    clear_unit_attentions(ctx);
    known_io(ctx);  // the histogram and counters have values
  }
  CHECK(http(md.mport, "GET", "/").status == 404);
  CHECK(http(md.mport, "GET", "/metrics/x").status == 404);
  CHECK(http(md.mport, "POST", "/metrics").status == 405);
  CHECK(http(md.mport, "DELETE", "/metrics").status == 405);
  const Response head = http(md.mport, "HEAD", "/metrics");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  const Response r = http(md.mport, "GET", "/metrics");
  REQUIRE(r.status == 200);
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    std::cout << "SKIPPED: promtool is not installed (scripts/deps.sh --test installs Debian's prometheus)" << std::endl;
    return;
  }
  const std::string file = md.d.dir() + "/scrape.txt";
  std::ofstream(file) << r.body;
  const std::string out = md.d.dir() + "/promtool.out";
  const int rc = std::system(("promtool check metrics < " + file + " > " + out + " 2>&1").c_str());
  std::ifstream in(out);
  std::string lint((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO("promtool: " << lint);
  CHECK(rc == 0);
  CHECK(lint.empty());
}

TEST_CASE("metrics: the endpoint bounds connections and request size and time", "[metrics]") {
  MetricsDaemon md;
  // A request larger than the limit is not answered.
  const std::string big = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(16384, 'a') + "\r\n\r\n";
  CHECK(http_exchange(md.mport, big).find("200 OK") == std::string::npos);
  // kMaxConnections idle connections: one more is closed at once, unanswered.
  std::vector<int> idle;
  for (uint32_t i = 0; i < kMaxConnections; ++i) {
    idle.push_back(connect_to(md.mport));
    REQUIRE(idle.back() >= 0);
  }
  // The server has accepted the idle ones once an over-limit connection is refused: retry a
  // few times (each attempt is a new connection) until one sees the close.
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) {
    const std::string r = http_exchange(md.mport, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    refused = r.empty();
  }
  CHECK(refused);
  // The idle ones are closed by the timeout (read sees EOF, not our 10 s receive timeout).
  for (int fd : idle) {
    char b;
    CHECK(::read(fd, &b, 1) == 0);
    ::close(fd);
  }
  // And the endpoint answers again.
  bool answered = false;
  for (int i = 0; i < 50 && !answered; ++i) answered = http(md.mport, "GET", "/metrics").status == 200;
  CHECK(answered);
}
