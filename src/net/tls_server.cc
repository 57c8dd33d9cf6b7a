#include "net/tls_server.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace portico::net {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 keeps OpenSSL's (all AEAD).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Session tickets are sealed with keys shared by every context of the process, so a ticket
// survives a reload and SNI moving a handshake between contexts. A new key seals tickets each
// hour; the one before still opens them, so a ticket lives one to two hours.
class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
  };

  // The key to seal with now; rotates when the current one is an hour old.
  Key current() {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (keys_.empty() || now - created_ >= rotation) {
      Key key;
      RAND_bytes(key.name.data(), key.name.size());
      RAND_bytes(key.aes.data(), key.aes.size());
      RAND_bytes(key.hmac.data(), key.hmac.size());
      keys_.insert(keys_.begin(), key);
      if (keys_.size() > 2) keys_.pop_back();
      created_ = now;
    }
    return keys_.front();
  }

  // The key named `name`, and whether it is the current one.
  bool find(const unsigned char* name, Key& out, bool& is_current) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (std::memcmp(keys_[i].name.data(), name, 16) == 0) {
        out = keys_[i];
        is_current = i == 0 && std::chrono::steady_clock::now() - created_ < rotation;
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr std::chrono::hours rotation{1};
  std::mutex mutex_;
  std::vector<Key> keys_;  // newest first
  std::chrono::steady_clock::time_point created_{};
};

TicketKeys& ticket_keys() {
  static TicketKeys keys;
  return keys;
}

bool set_hmac_key(EVP_MAC_CTX* hmac, const TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac.data()), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hmac, params) == 1;
}

// Fetched once: an implicit fetch (EVP_aes_256_cbc()) walks OpenSSL 3's provider name maps
// on every ticket sealed or opened.
const EVP_CIPHER* ticket_cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

// OpenSSL's ticket callback: 1 = sealed/opened, 2 = opened with an old key (issue a new
// ticket), 0 = unknown key (full handshake), -1 = failure.
int on_ticket_key(SSL*, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* hmac, int seal) {
  if (seal) {
    auto key = ticket_keys().current();
    std::memcpy(name, key.name.data(), 16);
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, key.aes.data(), iv) != 1) return -1;
    return set_hmac_key(hmac, key) ? 1 : -1;
  }
  TicketKeys::Key key;
  bool is_current = false;
  if (!ticket_keys().find(name, key, is_current)) return 0;
  if (EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, key.aes.data(), iv) != 1) return -1;
  if (!set_hmac_key(hmac, key)) return -1;
  return is_current ? 1 : 2;
}

int on_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
            unsigned int in_length, void* offer_h2) {
  // Our preference first: h2 when the HTTP/2 codec is on, else HTTP/1.1 only.
  static constexpr unsigned char with_h2[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static constexpr unsigned char http1_only[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  const unsigned char* offered = offer_h2 ? with_h2 : http1_only;
  unsigned int offered_length = offer_h2 ? sizeof with_h2 : sizeof http1_only;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_length, offered, offered_length, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no overlap: go on without ALPN
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

[[noreturn]] void fail(const std::string& what, const std::string& file,
                       const boost::system::error_code& ec) {
  throw std::runtime_error("server.tls: " + what + " \"" + file + "\": " + ec.message());
}

}  // namespace

TlsServerContext::TlsServerContext(const TlsServerOptions& options) {
  if (options.certificates.empty()) throw std::runtime_error("server.tls: no certificates");
  static constexpr unsigned char session_context[] = "portico";
  for (const auto& certificate : options.certificates) {
    Entry entry;
    entry.context = std::make_unique<ssl::context>(ssl::context::tls_server);
    auto& context = *entry.context;
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set_min_proto_version(native, options.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(
        native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    // An idle keep-alive connection gives its read and write buffers back to OpenSSL.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cipher_list(native, tls12_ciphers);
    SSL_CTX_set_session_id_context(native, session_context, sizeof session_context - 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(native, on_ticket_key);
    // One TLS 1.3 ticket per handshake, not OpenSSL's two: each costs a seal and a record, and
    // a resumed connection is given a fresh one.
    SSL_CTX_set_num_tickets(native, 1);
    SSL_CTX_set_alpn_select_cb(native, on_alpn, options.offer_h2 ? native : nullptr);
    SSL_CTX_set_tlsext_servername_callback(native, on_server_name);
    SSL_CTX_set_tlsext_servername_arg(native, this);

    boost::system::error_code ec;
    context.use_certificate_chain_file(certificate.cert_file, ec);
    if (ec) fail("cannot use the certificate", certificate.cert_file, ec);
    context.use_private_key_file(certificate.key_file, ssl::context::pem, ec);
    if (ec) fail("cannot use the key", certificate.key_file, ec);
    if (!options.client_ca_file.empty()) {
      context.load_verify_file(options.client_ca_file, ec);
      if (ec) fail("cannot read client CA certificates from", options.client_ca_file, ec);
      // Tell clients which CAs are accepted, so they pick the right certificate.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str()))
        SSL_CTX_set_client_CA_list(native, names);
      auto mode = ssl::verify_peer;
      if (options.client_cert_required) mode |= ssl::verify_fail_if_no_peer_cert;
      context.set_verify_mode(mode);
    }

    // The names the certificate answers for: its DNS SANs, or its CN when it has none.
    X509* leaf = SSL_CTX_get0_certificate(native);
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
    std::vector<std::string> names;
    if (sans) {
      for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type != GEN_DNS) continue;
        const ASN1_IA5STRING* dns = name->d.dNSName;
        names.push_back(lower(std::string_view(reinterpret_cast<const char*>(dns->data),
                                               static_cast<std::size_t>(dns->length))));
      }
      GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
      char cn[256];
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn) > 0)
        names.push_back(lower(cn));
    }
    for (auto& name : names) {
      if (name.starts_with("*."))
        entry.wildcard_suffixes.push_back(name.substr(1));
      else
        entry.exact_names.push_back(std::move(name));
    }
    entries_.push_back(std::move(entry));
  }
}

SSL_CTX* TlsServerContext::select(std::string_view host) const {
  const std::string name = lower(host);
  for (const auto& entry : entries_)
    for (const auto& exact : entry.exact_names)
      if (exact == name) return entry.context->native_handle();
  // "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com".
  auto dot = name.find('.');
  if (dot != std::string::npos && dot > 0) {
    std::string_view suffix = std::string_view(name).substr(dot);
    for (const auto& entry : entries_)
      for (const auto& wildcard : entry.wildcard_suffixes)
        if (wildcard == suffix) return entry.context->native_handle();
  }
  return entries_.front().context->native_handle();
}

int TlsServerContext::on_server_name(SSL* ssl, int*, void* self) {
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!host) return SSL_TLSEXT_ERR_NOACK;
  SSL_CTX* chosen = static_cast<const TlsServerContext*>(self)->select(host);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

std::string verified_peer_subject(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string subject(data, static_cast<std::size_t>(length > 0 ? length : 0));
  BIO_free(bio);
  return subject;
}

bool negotiated_h2(SSL* ssl) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
}

}  // namespace portico::net
