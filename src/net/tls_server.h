// The server side of TLS for the client listeners (`server.tls`): one OpenSSL context per
// certificate, SNI choosing among them, session tickets under process-wide rotating keys, and
// optional client certificates. Built from a validated config; rebuilt on every reload so that
// certificate files are read again (connections keep the context they started with).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portico::net {

struct TlsServerOptions {
  struct Certificate {
    std::string cert_file;  // PEM chain, leaf first
    std::string key_file;
  };
  std::vector<Certificate> certificates;  // the first is the default
  bool tls13_only = false;                // min_version "1.3"
  std::string client_ca_file;             // empty: no client certificates asked for
  bool client_cert_required = true;       // with client_ca_file
  bool offer_h2 = false;                  // ALPN: h2 before http/1.1 (server.http2.enabled)
};

// Whether ALPN chose h2 on this connection.
bool negotiated_h2(SSL* ssl);

class TlsServerContext {
 public:
  // Throws std::runtime_error naming the file OpenSSL refused.
  explicit TlsServerContext(const TlsServerOptions& options);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // The context new connections start with; the SNI callback may move them to another.
  boost::asio::ssl::context& initial() { return *entries_.front().context; }

  // The context whose certificate names `host`: exact names first, then one-label wildcards,
  // else the first. Exposed for tests.
  SSL_CTX* select(std::string_view host) const;

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::vector<std::string> exact_names;     // lower case
    std::vector<std::string> wildcard_suffixes;  // "*.example.com" kept as ".example.com"
  };
  static int on_server_name(SSL* ssl, int* alert, void* self);
  std::vector<Entry> entries_;
};

// The verified client certificate's subject in RFC 2253 form ("CN=alice,O=Example"), or empty
// when the client sent none or it did not verify.
std::string verified_peer_subject(SSL* ssl);


}  // namespace portico::net
