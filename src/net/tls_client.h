// The client side of TLS, shared by the request path (https:// upstream targets) and the
// control plane (health probes, JWKS, introspection): one way to build a context and one way
// to say which peer a connection must reach.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace portico::net {

struct TlsClientOptions {
  std::string ca_file;    // PEM bundle trusted instead of the system store; empty: the system's
  bool verify = true;     // false: any certificate is accepted (tests, bootstrapping)
  std::string cert_file;  // client certificate chain for mutual TLS; empty: none
  std::string key_file;
};

// Where a client connection goes and how it checks the peer. A null context means plain TCP.
struct TlsPeer {
  std::shared_ptr<boost::asio::ssl::context> context;
  std::string server_name;  // SNI and the name or IP address the certificate must carry
  bool verify = true;
};

// A context for TLS 1.2+ clients offering ALPN http/1.1. Throws std::runtime_error naming the
// file that could not be read or used. Contexts are shared across threads read-only.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(const TlsClientOptions& options);

// Prepares one connection before its handshake: SNI (for DNS names only, as RFC 6066 says) and
// the name or IP address the peer's certificate must carry when `verify` is on. False when
// OpenSSL refuses the name.
bool prepare_tls_client(SSL* ssl, const std::string& server_name, bool verify);

}  // namespace portico::net
