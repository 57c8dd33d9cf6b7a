#include "stores/redis/testing/redis_processes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace portico::stores::redis::testing {

namespace {

using namespace std::chrono_literals;

[[noreturn]] void fail(const std::string& message) {
  throw std::runtime_error("redis test process: " + message);
}

// Exit status and standard output; standard error goes to the test's own.
int run(const std::vector<std::string>& argv, std::string& out) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) fail("pipe failed");
  pid_t pid = fork();
  if (pid < 0) fail("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) out.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

bool port_free(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return free;
}

bool accepts(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

// Below the kernel's ephemeral range, so that no outgoing connection takes it meanwhile, and
// with port + 10000 free as well: a cluster node also listens there (its cluster bus).
std::uint16_t pick_port() {
  static std::mt19937 random{std::random_device{}()};
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto port = static_cast<std::uint16_t>(20000 + random() % 12000);
    if (port_free(port) && port_free(port + 10000)) return port;
  }
  fail("no free port");
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/usr/bin";
  std::stringstream stream{dirs};
  for (std::string dir; std::getline(stream, dir, ':');) {
    auto candidate = std::filesystem::path{dir} / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  fail(name +
       " not found: scripts/install-deps.sh installs it (packages redis-server, "
       "redis-tools)");
}

}  // namespace

std::string run_program(const std::vector<std::string>& argv) {
  std::string out;
  int status = run(argv, out);
  if (status != 0) fail(argv.front() + " exited with " + std::to_string(status) + ": " + out);
  return out;
}

TempDir::TempDir() {
  char pattern[] = "/tmp/portico-redis-XXXXXX";
  if (!mkdtemp(pattern)) fail("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

TestCertificates make_test_certificates(const std::string& dir, const std::string& ip) {
  TestCertificates out{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key"};
  const std::string ca_key = dir + "/ca.key", csr = dir + "/server.csr", ext = dir + "/san.ext";
  std::ofstream{ext} << "subjectAltName=IP:" << ip << "\n";
  run_program({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out", out.ca_file,
               "-days", "2", "-subj", "/CN=portico test CA"});
  run_program({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", out.key_file, "-out", csr, "-subj", "/CN=" + ip});
  run_program({"openssl", "x509", "-req", "-in", csr, "-CA", out.ca_file, "-CAkey", ca_key,
               "-CAcreateserial", "-out", out.cert_file, "-days", "2", "-extfile", ext});
  return out;
}

RedisProcess::RedisProcess(Options options) : options_(std::move(options)) {
  port_ = pick_port();
  start();
}

RedisProcess::~RedisProcess() {
  stop();
}

void RedisProcess::start() {
  if (running()) return;
  const std::string server = find_on_path("redis-server");
  const std::string port = std::to_string(port_);
  std::vector<std::string> argv{server,
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir(),
                                "--enable-debug-command",
                                "yes",
                                "--logfile",
                                dir() + "/redis.log"};
  if (options_.tls) {
    argv.insert(argv.end(),
                {"--port", "0", "--tls-port", port, "--tls-cert-file", options_.tls->cert_file,
                 "--tls-key-file", options_.tls->key_file, "--tls-ca-cert-file",
                 options_.tls->ca_file, "--tls-auth-clients", "no"});
  } else {
    argv.insert(argv.end(), {"--port", port});
  }
  if (options_.cluster)
    argv.insert(argv.end(), {"--cluster-enabled", "yes", "--cluster-config-file",
                             dir() + "/nodes-" + port + ".conf", "--cluster-node-timeout", "5000"});
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());

  pid_t pid = fork();
  if (pid < 0) fail("fork failed");
  if (pid == 0) {
    // Dies with the test, even one that crashes; and holds none of its output pipes, which
    // ctest waits on until every holder has closed them.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(10ms)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream log{dir() + "/redis.log"};
      std::stringstream text;
      text << log.rdbuf();
      fail("redis-server on port " + port + " exited at start: " + text.str());
    }
    if (accepts(port_)) return;
  }
  stop();
  fail("redis-server on port " + port + " did not start listening");
}

void RedisProcess::stop() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string RedisProcess::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string RedisProcess::url() const {
  return (options_.tls ? "rediss://" : "redis://") + address();
}

std::string RedisProcess::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{find_on_path("redis-cli"), "-h", "127.0.0.1", "-p",
                                std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  run(argv, out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

RedisCluster::RedisCluster(int masters) {
  std::vector<std::string> create{find_on_path("redis-cli"), "--cluster", "create"};
  for (int i = 0; i < masters; ++i) {
    RedisProcess::Options options;
    options.cluster = true;
    nodes_.push_back(std::make_unique<RedisProcess>(std::move(options)));
    create.push_back(nodes_.back()->address());
  }
  create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
  run_program(create);
  for (auto until = std::chrono::steady_clock::now() + 20s;; std::this_thread::sleep_for(50ms)) {
    bool ok = true;
    for (auto& node : nodes_)
      ok = ok && node->cli({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
    if (ok) return;
    if (std::chrono::steady_clock::now() > until) fail("the cluster did not reach state ok");
  }
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back(node->address());
  return out;
}

std::string RedisCluster::node_id(int index) const {
  return nodes_[index]->cli({"CLUSTER", "MYID"});
}

int RedisCluster::owner_of(int slot) const {
  // CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>..."
  std::stringstream lines{nodes_[0]->cli({"CLUSTER", "NODES"})};
  for (std::string line; std::getline(lines, line);) {
    std::stringstream fields{line};
    std::vector<std::string> words;
    for (std::string word; fields >> word;) words.push_back(word);
    if (words.size() < 9) continue;
    for (std::size_t i = 8; i < words.size(); ++i) {
      if (words[i].front() == '[') continue;  // a migration in progress, not ownership
      auto dash = words[i].find('-');
      int first = std::stoi(words[i].substr(0, dash));
      int last = dash == std::string::npos ? first : std::stoi(words[i].substr(dash + 1));
      if (slot < first || slot > last) continue;
      auto port = std::stoi(words[1].substr(words[1].find(':') + 1));
      for (int n = 0; n < size(); ++n)
        if (nodes_[n]->port() == port) return n;
    }
  }
  fail("no node serves slot " + std::to_string(slot));
}

void RedisCluster::begin_migration(int slot, int to) {
  int from = owner_of(slot);
  const std::string s = std::to_string(slot);
  nodes_[to]->cli({"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
  nodes_[from]->cli({"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
}

void RedisCluster::migrate_slot(int slot, int to) {
  int from = owner_of(slot);
  const std::string s = std::to_string(slot);
  if (from == to) return;
  begin_migration(slot, to);
  std::stringstream keys{nodes_[from]->cli({"CLUSTER", "GETKEYSINSLOT", s, "1000"})};
  std::vector<std::string> migrate{
      "MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()), "", "0", "5000", "KEYS"};
  bool any = false;
  for (std::string key; std::getline(keys, key);) {
    if (key.empty()) continue;
    migrate.push_back(key);
    any = true;
  }
  if (any) nodes_[from]->cli(migrate);
  // The new owner first, as the cluster tutorial does, then everyone else.
  std::string owner = node_id(to);
  nodes_[to]->cli({"CLUSTER", "SETSLOT", s, "NODE", owner});
  for (int n = 0; n < size(); ++n)
    if (n != to) nodes_[n]->cli({"CLUSTER", "SETSLOT", s, "NODE", owner});
}

}  // namespace portico::stores::redis::testing
