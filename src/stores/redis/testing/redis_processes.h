// Test-only: real redis-server processes on 127.0.0.1, for the tests of anything that talks
// to Redis (this client, the rate limiter, the cache). Link portico_redis_testing.
//
//   RedisProcess server;                         // started on a free port, in its own temp dir
//   RedisProcess secured{{.args = {"--requirepass", "secret"}}};
//   server.url();                                // "redis://127.0.0.1:<port>"
//   server.cli({"SET", "k", "v"});               // redis-cli -p <port> SET k v: its stdout
//   server.stop(); server.start();               // SIGKILL (reaped), then again on the same port
//
//   TestCertificates certs = make_test_certificates(dir);   // CA + a cert for IP 127.0.0.1
//   RedisProcess tls{{.tls = certs}};            // TLS only (--port 0 --tls-port <port>)
//
//   RedisCluster cluster;                        // three masters, all 16384 slots, state ok
//   cluster.seeds();                             // {"127.0.0.1:<p1>", ...}
//   cluster.owner_of(slot);                      // index of the node serving a slot
//   cluster.migrate_slot(slot, to);              // keys moved, every node told (MOVED after)
//   cluster.begin_migration(slot, to);           // MIGRATING/IMPORTING only (ASK for new keys)
//
// Every process is started with --save "" --appendonly no --enable-debug-command yes and is
// killed by PID when its object goes. Anything that goes wrong throws std::runtime_error (a
// missing redis-server too: the tests fail rather than skip, install-deps installs it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace portico::stores::redis::testing {

struct TestCertificates {
  std::string ca_file;  // PEM CA certificate that signed cert_file
  std::string cert_file;
  std::string key_file;
};

// A fresh CA and a server certificate for `ip`, written into `dir` by the openssl command.
TestCertificates make_test_certificates(const std::string& dir,
                                        const std::string& ip = "127.0.0.1");

// A directory under /tmp that is removed, with what is in it, when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs a program (found on PATH) to its end; its standard output. Throws when it exits non-zero.
std::string run_program(const std::vector<std::string>& argv);

class RedisProcess {
 public:
  struct Options {
    std::vector<std::string> args;        // more redis-server arguments
    std::optional<TestCertificates> tls;  // TLS only, with these files
    bool cluster = false;                 // --cluster-enabled yes, its own nodes file
  };

  RedisProcess() : RedisProcess(Options{}) {}
  explicit RedisProcess(Options options);
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  void start();  // waits until the port accepts connections
  void stop();   // SIGKILL and reap; nothing happens when it is not running
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  std::string url() const;      // "redis://127.0.0.1:<port>" (rediss:// with tls)
  const std::string& dir() const { return dir_.path(); }
  // redis-cli against this server (without TLS); the trailing newline removed.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  Options options_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

class RedisCluster {
 public:
  explicit RedisCluster(int masters = 3);

  std::vector<std::string> seeds() const;  // "127.0.0.1:<port>" of every node
  RedisProcess& node(int index) { return *nodes_[index]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  std::string node_id(int index) const;
  int owner_of(int slot) const;  // as node 0 sees it
  void begin_migration(int slot, int to);
  void migrate_slot(int slot, int to);

 private:
  std::vector<std::unique_ptr<RedisProcess>> nodes_;
};

}  // namespace portico::stores::redis::testing
