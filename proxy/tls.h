// TLS for the peer links (docs/security.md "Peer link"): the stmfd-to-stmfd link of an ALUA
// pair (proxy/service.h) and the link between two stmfproxy relays. TLS 1.3 only, and both
// sides authenticate: each presents its certificate and accepts the other's only when it is
// exactly the pinned one (`peer_cert`) or when the configured CA (`ca`) signed it.
// A context is made once per configuration and shared by every connection made with it.
#pragma once
#include <boost/asio/ssl.hpp>

#include <memory>
#include <string>

namespace stmf::proxy {

struct TlsSettings {
  std::string cert;       // this node's certificate (PEM, may carry its chain)
  std::string key;        // its private key (PEM)
  std::string peer_cert;  // pinning: the peer's certificate (PEM); only exactly it is accepted
  std::string ca;         // or: a CA certificate (PEM); a peer certificate it signed is accepted
  bool enabled() const { return !cert.empty(); }
  bool operator==(const TlsSettings&) const = default;
};

enum class TlsRole { client, server };

// The context for one side of a link; nullptr with `why` when a file is missing or unusable
// (unreadable, not PEM, key not matching the certificate) or neither peer_cert nor ca is set.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const TlsSettings& s, TlsRole role, std::string& why);

// "TLSv1.3 TLS_AES_256_GCM_SHA384, peer CN=node1 sha256 AB:CD:..." for logs, after a handshake.
std::string describe_tls(SSL* ssl);

}  // namespace stmf::proxy
