// Test support: a tiny HTTP/1.1 server (plain or TLS) on 127.0.0.1 and an OS-chosen port, run on
// its own io_context thread, that answers a set status, hangs, or closes; and a self-signed
// certificate made at test time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control/control_plane.h"

namespace portico::control::test {

struct SeenRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(const std::string& name) const;  // case-insensitive; empty when absent
};

// CN=localhost and the given subjectAltName, its own issuer. The PEM is also written to a
// temporary file (removed with the object) to serve as a CA file.
class TestCertificate {
 public:
  explicit TestCertificate(const std::string& alt_names = "DNS:localhost,IP:127.0.0.1");
  ~TestCertificate();
  TestCertificate(const TestCertificate&) = delete;
  TestCertificate& operator=(const TestCertificate&) = delete;
  std::string cert_pem;
  std::string key_pem;
  std::filesystem::path ca_file;
};

class TestServer {
 public:
  enum class Mode {
    Answer,  // answers with the set status and body
    Hang,    // reads the request, never answers, waits for the client to close
    Close,   // reads the request and closes without answering
  };

  // Listens on 127.0.0.1:0 at once; with a certificate, speaks TLS.
  explicit TestServer(const TestCertificate* certificate = nullptr);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url(const std::string& path = "/") const;  // http(s)://127.0.0.1:port/path

  void answer(int status, std::string body = "ok");
  void set_mode(Mode mode);

  int requests() const;            // requests read in full
  int answered(int status) const;  // responses sent with `status`
  int hung_up() const;             // hanging exchanges the client ended
  std::vector<SeenRequest> seen() const;
  std::string last_server_name() const;  // the SNI of the last TLS handshake

 private:
  struct Connection;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  template <class Stream>
  boost::asio::awaitable<void> exchange(Stream& stream);

  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::unique_ptr<boost::asio::ssl::context> tls_;
  unsigned short port_ = 0;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::Answer;
  int status_ = 200;
  std::string body_ = "ok";
  std::map<int, int> answered_;
  int hung_up_ = 0;
  std::vector<SeenRequest> seen_;
  std::string server_name_;
  std::thread thread_;
};

// A TCP port on 127.0.0.1 that nothing listens on (bound by the OS, then released).
unsigned short closed_port();

// Runs `task` on the control plane and waits (at most 30 s) for its result.
template <class T>
T run_on(ControlPlane& control, boost::asio::awaitable<T> task) {
  auto future = boost::asio::co_spawn(control.executor(), std::move(task), boost::asio::use_future);
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    throw std::runtime_error("control-plane task did not finish in 30 s");
  return future.get();
}

// Polls `condition` every 5 ms for at most `limit`; true once it holds.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace portico::control::test
