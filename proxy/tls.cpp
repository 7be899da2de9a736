#include "proxy/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <vector>

namespace stmf::proxy {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::vector<uint8_t> der_of(X509* x) {
  std::vector<uint8_t> out;
  const int n = i2d_X509(x, nullptr);
  if (n <= 0) return out;
  out.resize(size_t(n));
  unsigned char* p = out.data();
  i2d_X509(x, &p);
  return out;
}

// The first certificate of a PEM file, DER-encoded (empty with `why` when there is none).
std::vector<uint8_t> pem_certificate_der(const std::string& path, std::string& why) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    why = "cannot read " + path;
    return {};
  }
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!x) {
    why = path + ": not a PEM certificate (" + openssl_error() + ")";
    return {};
  }
  auto der = der_of(x);
  X509_free(x);
  return der;
}

std::string fingerprint(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(x, EVP_sha256(), md, &n)) return "?";
  std::string s;
  char b[4];
  for (unsigned i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, i ? ":%02X" : "%02X", md[i]);
    s += b;
  }
  return s;
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const TlsSettings& s, TlsRole role, std::string& why) {
  if (s.cert.empty() || s.key.empty()) {
    why = "tls needs both cert and key";
    return nullptr;
  }
  if (s.peer_cert.empty() == s.ca.empty()) {
    why = "tls needs exactly one of peer_cert (pinning) or ca";
    return nullptr;
  }
  auto ctx = std::make_shared<ssl::context>(role == TlsRole::client ? ssl::context::tls_client : ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  // TLS 1.3 only: no renegotiation, no static-RSA key exchange, forward secrecy throughout.
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
    why = "TLS 1.3 is not available: " + openssl_error();
    return nullptr;
  }
  // No session tickets: the two nodes never resume (and nothing arrives after the handshake).
  SSL_CTX_set_num_tickets(native, 0);
  // AES-128-GCM first: as safe here, and the cheapest per byte with AES-NI.
  SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(s.cert, ec);
  if (ec) {
    why = "cert " + s.cert + ": " + ec.message();
    return nullptr;
  }
  ctx->use_private_key_file(s.key, ssl::context::pem, ec);
  if (ec) {
    why = "key " + s.key + ": " + ec.message();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    why = "key " + s.key + " does not match cert " + s.cert;
    ERR_clear_error();
    return nullptr;
  }
  // Both sides demand the other's certificate (the server asks the client for one).
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  if (!s.ca.empty()) {
    ctx->load_verify_file(s.ca, ec);
    if (ec) {
      why = "ca " + s.ca + ": " + ec.message();
      return nullptr;
    }
    return ctx;  // OpenSSL's chain verification decides
  }
  // Pinning: the peer's leaf certificate must be byte for byte the pinned one. The pinned
  // certificate is also trusted, so a self-signed peer certificate passes the chain check; any
  // other certificate is refused at depth 0 whatever the chain said.
  auto pinned = pem_certificate_der(s.peer_cert, why);
  if (pinned.empty()) return nullptr;
  ctx->load_verify_file(s.peer_cert, ec);
  if (ec) {
    why = "peer_cert " + s.peer_cert + ": " + ec.message();
    return nullptr;
  }
  ctx->set_verify_callback([pinned](bool, ssl::verify_context& vc) {
    X509_STORE_CTX* sc = vc.native_handle();
    if (X509_STORE_CTX_get_error_depth(sc) > 0) return true;  // only the leaf decides
    X509* leaf = X509_STORE_CTX_get_current_cert(sc);
    return leaf && der_of(leaf) == pinned;
  });
  return ctx;
}

std::string describe_tls(SSL* ssl) {
  std::string s = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  if (X509* peer = SSL_get1_peer_certificate(ssl)) {
    char cn[256] = "?";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    s += std::string(", peer CN=") + cn + " sha256 " + fingerprint(peer);
    X509_free(peer);
  }
  return s;
}

}  // namespace stmf::proxy
