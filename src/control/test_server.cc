#include "control/test_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <strings.h>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fstream>

namespace portico::control::test {

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string trim(std::string text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// "GET /x HTTP/1.1\r\nName: value\r\n..." without the blank line.
SeenRequest parse_head(const std::string& head) {
  SeenRequest request;
  std::size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  auto space = first.find(' ');
  request.method = first.substr(0, space);
  auto second = first.find(' ', space + 1);
  request.target = first.substr(space + 1, second - space - 1);
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    auto line = head.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos)
      request.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    pos = end + 2;
  }
  return request;
}

std::string pem_of(X509* certificate) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, certificate);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

void add_extension(X509* certificate, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (!extension) throw std::runtime_error("X509V3_EXT_conf_nid failed");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

}  // namespace

std::string SeenRequest::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return {};
}

TestCertificate::TestCertificate(const std::string& alt_names) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* certificate = X509_new();
  if (!key || !certificate) throw std::runtime_error("cannot make a test certificate");
  X509_set_version(certificate, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate));
  BN_free(number);
  X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 24 * 3600);
  X509_set_pubkey(certificate, key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(certificate, name);
  add_extension(certificate, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(certificate, NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_extension(certificate, NID_subject_key_identifier, "hash");
  add_extension(certificate, NID_subject_alt_name, alt_names.c_str());
  X509_sign(certificate, key, EVP_sha256());
  cert_pem = pem_of(certificate);
  key_pem = pem_of(key);
  X509_free(certificate);
  EVP_PKEY_free(key);

  static std::atomic<int> counter{0};
  ca_file = std::filesystem::temp_directory_path() /
            ("portico_control_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++) + ".pem");
  std::ofstream{ca_file} << cert_pem;
}

TestCertificate::~TestCertificate() {
  std::error_code ignored;
  std::filesystem::remove(ca_file, ignored);
}

TestServer::TestServer(const TestCertificate* certificate) {
  if (certificate) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->use_certificate_chain(asio::buffer(certificate->cert_pem));
    tls_->use_private_key(asio::buffer(certificate->key_pem), ssl::context::pem);
  }
  tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), 0};
  acceptor_.open(endpoint.protocol());
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

TestServer::~TestServer() {
  io_.stop();
  thread_.join();
}

std::string TestServer::url(const std::string& path) const {
  return std::string{tls_ ? "https" : "http"} + "://127.0.0.1:" + std::to_string(port_) + path;
}

void TestServer::answer(int status, std::string body) {
  std::lock_guard lock{mutex_};
  mode_ = Mode::Answer;
  status_ = status;
  body_ = std::move(body);
}

void TestServer::set_mode(Mode mode) {
  std::lock_guard lock{mutex_};
  mode_ = mode;
}

int TestServer::requests() const {
  std::lock_guard lock{mutex_};
  return static_cast<int>(seen_.size());
}

int TestServer::answered(int status) const {
  std::lock_guard lock{mutex_};
  auto it = answered_.find(status);
  return it == answered_.end() ? 0 : it->second;
}

int TestServer::hung_up() const {
  std::lock_guard lock{mutex_};
  return hung_up_;
}

std::vector<SeenRequest> TestServer::seen() const {
  std::lock_guard lock{mutex_};
  return seen_;
}

std::string TestServer::last_server_name() const {
  std::lock_guard lock{mutex_};
  return server_name_;
}

asio::awaitable<void> TestServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> TestServer::serve(tcp::socket socket) {
  if (!tls_) {
    co_await exchange(socket);
    co_return;
  }
  ssl::stream<tcp::socket> stream{std::move(socket), *tls_};
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
  if (ec) co_return;  // e.g. a client that does not trust the certificate
  if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name)) {
    std::lock_guard lock{mutex_};
    server_name_ = name;
  }
  co_await exchange(stream);
}

template <class Stream>
asio::awaitable<void> TestServer::exchange(Stream& stream) {
  std::string data;
  auto buffer = asio::dynamic_buffer(data, 1024 * 1024);
  auto [ec, head_size] = co_await asio::async_read_until(stream, buffer, "\r\n\r\n", use_tuple);
  if (ec) co_return;
  auto request = parse_head(data.substr(0, head_size - 4));
  data.erase(0, head_size);
  auto length_text = request.header("Content-Length");
  std::size_t length = length_text.empty() ? 0 : std::stoul(length_text);
  if (data.size() < length) {
    auto [read_ec, n] = co_await asio::async_read(
        stream, buffer, asio::transfer_exactly(length - data.size()), use_tuple);
    if (read_ec) co_return;
  }
  request.body = data.substr(0, length);

  Mode mode;
  std::string response;
  {
    std::lock_guard lock{mutex_};
    seen_.push_back(std::move(request));
    mode = mode_;
    if (mode == Mode::Answer) {
      ++answered_[status_];
      response = "HTTP/1.1 " + std::to_string(status_) +
                 " Test\r\nContent-Type: text/plain\r\nX-Test-Server: yes\r\n"
                 "Connection: close\r\nContent-Length: " +
                 std::to_string(body_.size()) + "\r\n\r\n" + body_;
    }
  }
  if (mode == Mode::Close) co_return;
  if (mode == Mode::Hang) {
    char byte;
    co_await stream.async_read_some(asio::buffer(&byte, 1), use_tuple);  // until the client closes
    std::lock_guard lock{mutex_};
    ++hung_up_;
    co_return;
  }
  co_await asio::async_write(stream, asio::buffer(response), use_tuple);
}

unsigned short closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  return acceptor.local_endpoint().port();
}

}  // namespace portico::control::test
