// The rbd store without a cluster: option checks, error classification, refusals at creation.
// With a cluster: test/ceph/rbd_store_test.cpp (label ceph).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "store_rbd/rbd_fence.h"
#include "store_rbd/rbd_store.h"

using stmf::rbdstore::check_options;
using stmf::rbdstore::classify;
using stmf::rbdstore::Failure;
using stmf::rbdstore::RbdStoreOptions;

namespace {
RbdStoreOptions good() {
  RbdStoreOptions o;
  o.pool = "rbd";
  o.image = "disk";
  return o;
}
}  // namespace

TEST_CASE("rbd store: options", "[rbd_store]") {
  std::string why;
  CHECK(!check_options(good(), why));
  struct Bad {
    const char* what;
    void (*change)(RbdStoreOptions&);
    const char* mentions;
  };
  const Bad bad[] = {
      {"no pool", [](RbdStoreOptions& o) { o.pool.clear(); }, "pool"},
      {"no image", [](RbdStoreOptions& o) { o.image.clear(); }, "image"},
      {"a slash in the image", [](RbdStoreOptions& o) { o.image = "a/b"; }, "image"},
      {"a snapshot", [](RbdStoreOptions& o) { o.image = "disk@snap"; }, "image"},
      {"a long image name", [](RbdStoreOptions& o) { o.image = std::string(96, 'x'); }, "image"},
      {"a slash in the namespace", [](RbdStoreOptions& o) { o.ns = "a/b"; }, "namespace"},
      {"no client", [](RbdStoreOptions& o) { o.client.clear(); }, "client"},
      {"client. prefix", [](RbdStoreOptions& o) { o.client = "client.admin"; }, "client"},
      {"relative conf", [](RbdStoreOptions& o) { o.conf = "ceph.conf"; }, "conf"},
      {"relative keyring", [](RbdStoreOptions& o) { o.keyring = "keyring"; }, "keyring"},
      {"queue depth 0", [](RbdStoreOptions& o) { o.queue_depth = 0; }, "queue_depth"},
      {"queue depth too large", [](RbdStoreOptions& o) { o.queue_depth = 5000; }, "queue_depth"},
      {"queue limit too large", [](RbdStoreOptions& o) { o.queue_limit = (1u << 20) + 1; }, "queue_limit"},
      {"no attempt", [](RbdStoreOptions& o) { o.retry_attempts = 0; }, "retry_attempts"},
      {"op timeout 0", [](RbdStoreOptions& o) { o.op_timeout_s = 0; }, "op_timeout_s"},
  };
  for (auto& b : bad) {
    INFO(b.what);
    auto o = good();
    b.change(o);
    why.clear();
    CHECK(check_options(o, why) == std::errc::invalid_argument);
    CHECK(why.find(b.mentions) != std::string::npos);
  }
  auto o = good();
  o.ns = "tenant1";
  o.client = "iscsi-gw";
  o.conf = "/etc/ceph/ceph.conf";
  o.keyring = "/etc/ceph/ceph.client.iscsi-gw.keyring";
  CHECK(!check_options(o, why));
}

TEST_CASE("rbd store: what a failure means", "[rbd_store]") {
  CHECK(classify(-ETIMEDOUT) == Failure::lost);
  CHECK(classify(-ENOTCONN) == Failure::lost);
  CHECK(classify(-ESHUTDOWN) == Failure::fenced);  // EBLOCKLISTED
  CHECK(classify(-EIO) == Failure::definite);
  CHECK(classify(-ENOENT) == Failure::definite);
  CHECK(classify(-EROFS) == Failure::definite);
  // Holding the exclusive lock (fencing): EROFS says the lock is somebody else's now.
  CHECK(classify(-EROFS, true) == Failure::fenced);
  CHECK(classify(-ESHUTDOWN, true) == Failure::fenced);
  CHECK(classify(-ETIMEDOUT, true) == Failure::lost);
  CHECK(classify(-EIO, true) == Failure::definite);
}

TEST_CASE("rbd store: a read librbd clipped at a shrunk image's end fails, never GOOD with a stale tail", "[rbd_store]") {
  using stmf::rbdstore::read_result;
  CHECK_FALSE(read_result(4096, 4096));
  CHECK_FALSE(read_result(0, 0));
  CHECK(read_result(512, 4096) == std::error_code(EIO, std::system_category()));
  CHECK(read_result(0, 4096) == std::error_code(EIO, std::system_category()));
}

TEST_CASE("rbd fencing: what rbd_lock_acquire's answer means to an opening owner", "[rbd_store][fencing]") {
  using stmf::rbdstore::Acquire;
  using stmf::rbdstore::classify_acquire;
  CHECK(classify_acquire(0) == Acquire::held);
  // Another live client holds it (a previous owner handing over): wait, never break.
  CHECK(classify_acquire(-EROFS) == Acquire::wait);
  CHECK(classify_acquire(-EBUSY) == Acquire::wait);
  CHECK(classify_acquire(-EAGAIN) == Acquire::wait);
  CHECK(classify_acquire(-ETIMEDOUT) == Acquire::wait);
  CHECK(classify_acquire(-ESHUTDOWN) == Acquire::fenced);  // blocklisted
  CHECK(classify_acquire(-EINVAL) == Acquire::refused);    // no exclusive-lock feature
}

TEST_CASE("rbd fencing: breaking the owner's lock", "[rbd_store][fencing]") {
  using stmf::rbdstore::break_outcome;
  using stmf::store::TakeResult;
  std::string d;
  CHECK(break_outcome(-ENOENT, {}, {}, d) == TakeResult::won);  // nobody holds it
  CHECK(d.find("no owner") != std::string::npos);
  CHECK(break_outcome(0, {}, {}, d) == TakeResult::won);
  CHECK(break_outcome(-ETIMEDOUT, {}, {}, d) == TakeResult::failed);
  CHECK(d.find("rbd_lock_get_owners") != std::string::npos);
  CHECK(break_outcome(0, {"127.0.0.1:0/42"}, {0}, d) == TakeResult::won);
  CHECK(d.find("127.0.0.1:0/42") != std::string::npos);
  CHECK(d.find("blocklisted") != std::string::npos);
  CHECK(break_outcome(0, {"127.0.0.1:0/42"}, {-ENOENT}, d) == TakeResult::won);  // released meanwhile
  CHECK(break_outcome(0, {"127.0.0.1:0/42"}, {-EACCES}, d) == TakeResult::failed);  // no caps to blocklist
  CHECK(d.find("127.0.0.1:0/42") != std::string::npos);
  CHECK(break_outcome(0, {"a", "b"}, {0}, d) == TakeResult::failed);  // an owner not broken
}

TEST_CASE("fencing providers: chosen by the LU's store", "[fencing]") {
  using stmf::store::fence_provider;
  using stmf::store::FenceProvider;
  CHECK(fence_provider("iscsi") == FenceProvider::san_pr);
  CHECK(fence_provider("rbd") == FenceProvider::rbd_lock);
  CHECK(fence_provider("file") == FenceProvider::none);
  CHECK(fence_provider("ram") == FenceProvider::none);
}

// Refusals that reach librados (a missing conf, no monitor answering) are not here: librados
// throws std::bad_cast inside this Catch binary (loaded with RTLD_DEEPBIND beside the test's
// own libstdc++ template statics); stmfd, which has none of those, is tested in label ceph.
TEST_CASE("rbd store: refusals at creation need no cluster", "[rbd_store]") {
  boost::asio::io_context io;
  std::error_code ec;
  std::string why;
  auto dir = std::filesystem::temp_directory_path() / ("rbd_store_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  SECTION("bad options") {
    auto o = good();
    o.pool.clear();
    CHECK(!make_rbd_store(io, o, ec, why));
    CHECK(ec == std::errc::invalid_argument);
  }
  std::filesystem::remove_all(dir);
}
