#include "tools/stmfd/mgmt_server.h"

#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "mgmt/ops.h"

namespace stmfd {

using namespace stmf::mgmt;
using asio::awaitable;
using asio::use_awaitable;
using local_socket = asio::local::stream_protocol::socket;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = [] {
    auto existing = spdlog::get("mgmt");
    return existing ? existing : spdlog::default_logger()->clone("mgmt");
  }();
  return l;
}

std::string random_hex(size_t bytes) {
  static std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    s += hex[v >> 4];
    s += hex[v & 15];
  }
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

// The request as logged: secrets replaced.
json redacted(json j) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "secret" || k == "mutual_secret") v = "***";
      else v = redacted(v);
    }
  }
  return j;
}

json respond(const Status& s, json result = json::object()) {
  json r = make_response(s);
  if (s.ok() && result.is_object())
    for (auto& [k, v] : result.items()) r[k] = v;
  return r;
}

}  // namespace

MgmtServer::MgmtServer(asio::io_context& io, Runtime& runtime, StateDb* db, Config current)
    : io_(io), strand_(asio::make_strand(io)), runtime_(runtime), db_(db), current_(std::move(current)) {
  ctx_.new_guid = [this] { return derive_guid(current_.company_id, "generated|" + random_hex(16)); };
  ctx_.new_target_iqn = [] { return "iqn.2026-11.org.stmf:" + random_hex(8); };
}

bool MgmtServer::start(const std::string& path, std::string& why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (auto dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir, ec);
  asio::local::stream_protocol::endpoint ep(path);
  if (fs::exists(path, ec)) {
    // A socket file left by a dead daemon is removed; a live daemon keeps it.
    local_socket probe(io_);
    boost::system::error_code pec;
    probe.connect(ep, pec);
    if (!pec) {
      why = "another stmfd is serving " + path;
      return false;
    }
    fs::remove(path, ec);
  }
  acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(strand_);
  boost::system::error_code bec;
  acceptor_->open(ep.protocol(), bec);
  if (!bec) acceptor_->bind(ep, bec);
  if (!bec) acceptor_->listen(64, bec);
  if (bec) {
    why = "management socket " + path + ": " + bec.message();
    return false;
  }
  ::chmod(path.c_str(), 0666);  // reads are open to local users; changes are checked per request
  path_ = path;
  log()->info("management socket {}", path);
  accept_loop();
  return true;
}

void MgmtServer::stop() {
  asio::post(strand_, [this] {
    if (acceptor_) {
      boost::system::error_code ec;
      acceptor_->close(ec);
    }
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove(path_, ec);
  });
}

void MgmtServer::accept_loop() {
  acceptor_->async_accept(strand_, [this](boost::system::error_code ec, local_socket s) {
    if (ec) return;  // closed
    asio::co_spawn(strand_, serve(std::move(s)), asio::detached);
    accept_loop();
  });
}

awaitable<void> MgmtServer::serve(local_socket sock) {
  PeerCredentials peer;
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
    peer.uid = uc.uid;
    peer.gid = uc.gid;
    peer.pid = uc.pid;
  }
  std::string buf;
  for (;;) {
    size_t n;
    try {
      n = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, kMaxMessageBytes), '\n', use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::not_found) log()->warn("client pid {}: request larger than {} bytes, closing", peer.pid, kMaxMessageBytes);
      co_return;
    }
    std::string line = buf.substr(0, n - 1);
    buf.erase(0, n);
    json req = json::parse(line, nullptr, false);
    json resp;
    if (req.is_discarded() || !req.is_object())
      resp = respond(error(STMF_ERROR_INVALID_ARG, "request is not a JSON object"));
    else
      resp = co_await handle(req, peer);
    std::string out = resp.dump() + "\n";
    try {
      co_await asio::async_write(sock, asio::buffer(out), use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return;
    }
  }
}

bool MgmtServer::privileged(const PeerCredentials& p) const {
  if (p.uid == 0 || p.uid == ::geteuid()) return true;
  const auto& name = current_.management.admin_group;
  if (name.empty()) return false;
  const group* g = ::getgrnam(name.c_str());
  if (!g) return false;
  if (p.gid == g->gr_gid) return true;
  const passwd* pw = ::getpwuid(p.uid);
  if (!pw) return false;
  int n = 256;
  std::vector<gid_t> gids(static_cast<size_t>(n));
  if (::getgrouplist(pw->pw_name, pw->pw_gid, gids.data(), &n) < 0) return false;
  return std::count(gids.begin(), gids.begin() + n, g->gr_gid) > 0;
}

Status MgmtServer::apply(Config& next) {
  if (auto s = runtime_.prepare(current_, next); !s.ok()) return s;
  ConfigError ce;
  if (!validate(next, ce)) {
    runtime_.abort();
    return error(STMF_ERROR_INVALID_ARG, ce.message());
  }
  if (db_) {
    std::string why;
    if (!db_->save(next, why)) {
      runtime_.abort();
      log()->error("state database: {}", why);
      return error(STMF_STATUS_ERROR, "state database: " + why);
    }
  }
  runtime_.commit(current_, next);
  current_ = next;
  return {};
}

json MgmtServer::target_json(const TargetConfig& t) {
  json j = to_json(t, false);
  j["name"] = t.iqn;
  j["protocol"] = "iSCSI";
  j["provider"] = "iscsit";
  auto* port = runtime_.port(t.iqn);
  const bool online = t.online && current_.service_online;
  j["state"] = transitioning_.count(t.iqn) ? (t.online ? "onlining" : "offlining") : (online ? "online" : "offline");
  j["rtpi"] = port ? port->rtpi() : 0;
  j["sessions"] = port ? runtime_.server().session_count(*port) : 0;
  return j;
}

awaitable<void> MgmtServer::wait_target_offline(const std::string& iqn) {
  transitioning_.insert(iqn);
  auto* port = runtime_.port(iqn);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(current_.shutdown_timeout_s);
  asio::steady_timer timer(strand_);
  while (port && runtime_.server().session_count(*port) > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
  }
  if (port && runtime_.server().session_count(*port) > 0) {
    log()->warn("target {}: sessions did not log out in {} s, closing them", iqn, current_.shutdown_timeout_s);
    runtime_.server().close_sessions(*port, "target offline");
  }
  transitioning_.erase(iqn);
}

awaitable<json> MgmtServer::handle(const json& req, const PeerCredentials& peer) {
  if (!req.contains("v") || req["v"] != kProtocolVersion)
    co_return respond(error(STMF_ERROR_INVALID_ARG, "unsupported protocol version (this stmfd speaks v1)"));
  if (!req.contains("op") || !req["op"].is_string()) co_return respond(error(STMF_ERROR_INVALID_ARG, "request has no op"));
  const std::string op = req["op"];
  json result = json::object();

  // Operations that read or act on the running objects, not only the model.
  if (op == "list-target") {
    result["targets"] = json::array();
    for (auto& t : current_.targets) result["targets"].push_back(target_json(t));
    co_return respond({}, result);
  }
  if (op == "get-target" || op == "list-sessions") {
    const char* key = op == "get-target" ? "name" : "target";
    if (!req.contains(key) || !req[key].is_string())
      co_return respond(error(STMF_ERROR_INVALID_ARG, std::string("argument '") + key + "' missing or not a string"));
    auto* t = current_.find_target(lower(req[key]));
    if (!t) co_return respond(error(STMF_ERROR_NOT_FOUND, "no target " + req[key].get<std::string>()));
    if (op == "get-target") {
      result["target"] = target_json(*t);
    } else {
      result["sessions"] = json::array();
      if (auto* port = runtime_.port(t->iqn))
        for (auto& s : runtime_.server().sessions(*port)) {
          char isid[13];
          std::snprintf(isid, sizeof isid, "%012llx", (unsigned long long)s.isid);
          result["sessions"].push_back({{"initiator", s.initiator},
                                        {"alias", s.alias},
                                        {"isid", isid},
                                        {"tsih", s.tsih},
                                        {"creation_time", std::chrono::duration_cast<std::chrono::seconds>(
                                                              s.login_time.time_since_epoch()).count()}});
        }
    }
    co_return respond({}, result);
  }
  if (op == "list-pr") {
    if (!req.contains("guid") || !req["guid"].is_string())
      co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'guid' missing or not a string"));
    auto g = guid_bytes(req["guid"]);
    if (!g) co_return respond(error(STMF_ERROR_INVALID_ARG, "'" + req["guid"].get<std::string>() + "' is not a GUID"));
    auto j = runtime_.reservations_json(guid_hex(*g));
    if (!j) co_return respond(error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid_hex(*g)));
    result["reservations"] = *j;
    co_return respond({}, result);
  }
  if (op == "export") {
    // The configuration includes CHAP secrets: only privileged callers get them.
    result["config"] = to_json(current_);
    if (!privileged(peer))
      for (auto& t : result["config"]["targets"])
        if (t["chap"].is_object()) {
          t["chap"].erase("secret");
          t["chap"].erase("mutual_secret");
        }
    co_return respond({}, result);
  }
  if (op == "import") {
    if (!req.contains("config")) co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'config' missing"));
    const bool dry = req.value("dry_run", false);
    if (!dry && !privileged(peer)) co_return respond(error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group"));
    ConfigError ce;
    auto next = parse_config_json(req["config"], ce);
    if (!next) co_return respond(error(STMF_ERROR_INVALID_ARG, "configuration refused: " + ce.message()));
    result["changes"] = diff(current_, *next);
    if (dry || result["changes"].empty()) co_return respond({}, result);
    std::vector<std::string> going_offline;
    for (auto& t : next->targets)
      if (auto* o = current_.find_target(t.iqn); o && o->online && !t.online) going_offline.push_back(t.iqn);
    if (auto s = apply(*next); !s.ok()) co_return respond(s);
    log()->info("import by uid {}: {} change(s)", peer.uid, result["changes"].size());
    for (auto& iqn : going_offline) co_await wait_target_offline(iqn);
    co_return respond({}, result);
  }

  const OpInfo* info = find_op(op);
  json args = req;
  if (op == "import-lu") {
    if (!privileged(peer)) co_return respond(error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group"));
    if (!req.contains("backing") || !req["backing"].is_string())
      co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'backing' missing or not a string"));
    json lu;
    if (auto s = Runtime::read_lu_metadata(req["backing"], lu); !s.ok()) co_return respond(s);
    args = {{"lu", lu}};
    info = find_op("create-lu");
  }
  if (!info) co_return respond(error(STMF_ERROR_INVALID_ARG, "unknown op '" + op + "'"));
  if (info->changes && !privileged(peer))
    co_return respond(error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group"));
  const bool target_state = op == "online-target" || op == "offline-target";
  std::string iqn;
  if (target_state && req.contains("name") && req["name"].is_string()) {
    iqn = lower(req["name"]);
    if (transitioning_.count(iqn)) co_return respond(error(STMF_ERROR_BUSY, "target " + iqn + " is changing state"));
  }
  Config next = current_;
  Status s = info->fn(next, args, result, ctx_);
  if (s.ok() && info->changes && !(next == current_)) {
    s = apply(next);
    if (s.ok()) log()->info("{} by uid {}: {}", op, peer.uid, redacted(req).dump());
  }
  if (s.ok() && op == "offline-target") co_await wait_target_offline(iqn);
  co_return respond(s, result);
}

}  // namespace stmfd
