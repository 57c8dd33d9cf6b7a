#include "net/tls_client.h"

#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <stdexcept>

namespace portico::net {

namespace ssl = boost::asio::ssl;

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& file,
                       const boost::system::error_code& ec) {
  std::string message = file.empty() ? what + ": " : what + " " + file + ": ";
  // The error code carries OpenSSL's reason ("no such file", "key values mismatch"...).
  message += ec.message();
  throw std::runtime_error(message);
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_client_context(const TlsClientOptions& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // The gateway speaks HTTP/1.1 to upstreams; saying so lets servers that also do h2 pick 1.1.
  static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(native, alpn, sizeof alpn);
  boost::system::error_code ec;
  if (options.verify) {
    context->set_verify_mode(ssl::verify_peer);
    if (options.ca_file.empty()) {
      context->set_default_verify_paths(ec);
      if (ec) fail("cannot load the system's CA certificates", "", ec);
    } else {
      context->load_verify_file(options.ca_file, ec);
      if (ec) fail("cannot read CA certificates from", options.ca_file, ec);
    }
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  if (!options.cert_file.empty()) {
    context->use_certificate_chain_file(options.cert_file, ec);
    if (ec) fail("cannot read the client certificate", options.cert_file, ec);
    context->use_private_key_file(options.key_file, ssl::context::pem, ec);
    // OpenSSL also refuses here a key that is not the certificate's ("key values mismatch").
    if (ec) fail("cannot use the client key", options.key_file, ec);
  }
  return context;
}

bool prepare_tls_client(SSL* ssl, const std::string& server_name, bool verify) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(server_name, ec);
  const bool is_address = !ec;
  if (!is_address && !server_name.empty() &&
      SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1)
    return false;
  if (!verify || server_name.empty()) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_address) return X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1;
  // Wildcards match one label only, as browsers do.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), server_name.size()) == 1;
}

}  // namespace portico::net
