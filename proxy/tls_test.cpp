// TLS of the peer link (proxy/tls.h, proxy/tls_socket.h): contexts refuse unusable settings;
// two TlsSockets over a loopback TCP connection complete a mutually authenticated TLS 1.3
// handshake only when each pins the other's certificate (or its CA), and then carry bytes both
// ways. Keys and self-signed certificates are made here with OpenSSL.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "proxy/tls.h"
#include "proxy/tls_socket.h"

using namespace stmf::proxy;
namespace asio = boost::asio;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/stmf-tls-test-XXXXXX";
    REQUIRE(::mkdtemp(t));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// DIR/NAME.key and DIR/NAME.crt: a P-256 key and a self-signed certificate, CN=NAME.
void make_identity(const std::string& dir, const std::string& name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key);
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, n);
  REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
  FILE* f = std::fopen((dir + "/" + name + ".key").c_str(), "w");
  REQUIRE(f);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen((dir + "/" + name + ".crt").c_str(), "w");
  REQUIRE(f);
  PEM_write_X509(f, x);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
}

TlsSettings identity(const std::string& dir, const std::string& me, const std::string& pinned) {
  return TlsSettings{dir + "/" + me + ".crt", dir + "/" + me + ".key", dir + "/" + pinned + ".crt", ""};
}

// A client and a server TlsSocket over one loopback connection: both handshakes' results.
std::pair<boost::system::error_code, boost::system::error_code> handshake(const TlsSettings& client,
                                                                          const TlsSettings& server,
                                                                          bool exchange = false) {
  std::string why;
  auto cctx = make_tls_context(client, TlsRole::client, why);
  INFO(why);
  REQUIRE(cctx);
  auto sctx = make_tls_context(server, TlsRole::server, why);
  REQUIRE(sctx);
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket cs(io), ss(io);
  cs.connect(acc.local_endpoint());
  acc.accept(ss);
  TlsSocket c(std::move(cs), *cctx), s(std::move(ss), *sctx);
  std::optional<boost::system::error_code> cr, sr;
  c.async_handshake(TlsRole::client, [&](boost::system::error_code ec) { cr = ec; });
  s.async_handshake(TlsRole::server, [&](boost::system::error_code ec) {
    sr = ec;
    if (ec) s.lowest_layer().close();  // as the link does: the client sees it at once
  });
  io.run_for(std::chrono::seconds(10));
  REQUIRE(cr);
  REQUIRE(sr);
  if (exchange && !*cr && !*sr) {
    // 300 KiB one way (many records, read ahead), a few bytes back.
    std::string big(300 * 1024, 'x'), got(big.size(), 0), back(5, 0);
    for (size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
    size_t have = 0;
    bool wrote = false;
    std::function<void()> read_more = [&] {
      s.async_read_some(asio::buffer(got.data() + have, got.size() - have), [&](boost::system::error_code ec, size_t n) {
        REQUIRE_FALSE(ec);
        have += n;
        if (have < got.size()) return read_more();
        s.async_write_all(asio::buffer("hello", 5), [](boost::system::error_code e, size_t) { REQUIRE_FALSE(e); });
      });
    };
    read_more();
    c.async_write_all(asio::buffer(big), [&](boost::system::error_code ec, size_t n) {
      REQUIRE_FALSE(ec);
      CHECK(n == big.size());
      wrote = true;
    });
    size_t back_n = 0;
    c.async_read_some(asio::buffer(back), [&](boost::system::error_code ec, size_t n) {
      REQUIRE_FALSE(ec);
      back_n = n;
    });
    io.restart();
    io.run_for(std::chrono::seconds(10));
    CHECK(wrote);
    CHECK(got == big);
    CHECK(back.substr(0, back_n) == std::string("hello").substr(0, back_n));
    CHECK(back_n > 0);
    CHECK(std::string(SSL_get_version(c.native_handle())) == "TLSv1.3");
    CHECK(describe_tls(s.native_handle()).find("peer CN=client") != std::string::npos);
  }
  return {*cr, *sr};
}

}  // namespace

TEST_CASE("TLS contexts refuse unusable settings", "[tls]") {
  TempDir d;
  make_identity(d.path, "a");
  make_identity(d.path, "b");
  std::string why;
  CHECK(make_tls_context(identity(d.path, "a", "b"), TlsRole::client, why));
  CHECK_FALSE(make_tls_context(TlsSettings{d.path + "/none.crt", d.path + "/a.key", d.path + "/b.crt", ""}, TlsRole::client, why));
  CHECK(why.find("none.crt") != std::string::npos);
  CHECK_FALSE(make_tls_context(TlsSettings{d.path + "/a.crt", d.path + "/b.key", d.path + "/b.crt", ""}, TlsRole::server, why));
  INFO(why);
  CHECK((why.find("does not match") != std::string::npos || why.find("mismatch") != std::string::npos));
  CHECK_FALSE(make_tls_context(TlsSettings{d.path + "/a.crt", d.path + "/a.key", "", ""}, TlsRole::server, why));
  CHECK(why.find("exactly one of peer_cert") != std::string::npos);
  CHECK_FALSE(make_tls_context(TlsSettings{d.path + "/a.crt", d.path + "/a.key", d.path + "/a.key", ""}, TlsRole::server, why));
  CHECK(why.find("not a PEM certificate") != std::string::npos);
}

TEST_CASE("TLS sockets authenticate each other by the pinned certificate", "[tls]") {
  TempDir d;
  for (auto n : {"client", "server", "stranger"}) make_identity(d.path, n);
  SECTION("each pinned to the other: the handshake completes and bytes cross both ways") {
    auto [c, s] = handshake(identity(d.path, "client", "server"), identity(d.path, "server", "client"), true);
    CHECK_FALSE(c);
    CHECK_FALSE(s);
  }
  SECTION("a client the server has not pinned is refused") {
    auto [c, s] = handshake(identity(d.path, "stranger", "server"), identity(d.path, "server", "client"));
    CHECK(s);
  }
  SECTION("a server the client has not pinned is refused") {
    auto [c, s] = handshake(identity(d.path, "client", "server"), identity(d.path, "stranger", "client"));
    CHECK(c);
    CHECK(s);
  }
  SECTION("a CA-signed peer is accepted by its CA: a self-signed certificate is its own CA") {
    TlsSettings client{d.path + "/client.crt", d.path + "/client.key", "", d.path + "/server.crt"};
    TlsSettings server{d.path + "/server.crt", d.path + "/server.key", "", d.path + "/client.crt"};
    auto [c, s] = handshake(client, server);
    CHECK_FALSE(c);
    CHECK_FALSE(s);
  }
}
