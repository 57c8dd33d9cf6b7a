// The portico command line: run, validate, init, version, schema (behaviour.md "Command line").
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#ifdef PORTICO_MIMALLOC
#include <mimalloc.h>
#endif

#include "config/config_loader.h"
#include "config/config_schema.h"
#include "control/control_plane.h"
#include "proxy/runtime.h"
#include "server/gateway.h"

namespace {

std::string allocator_name() {
#ifdef PORTICO_MIMALLOC
  int v = mi_version();  // e.g. 209; the call also keeps the library linked
  return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
         std::to_string(v % 10);
#else
  return "glibc malloc";
#endif
}

constexpr const char* usage = R"(usage: portico <command> [options]

commands:
  run -c FILE         start the gateway (also: portico -c FILE)
  validate -c FILE    check a config; print every error with file:line:column
  init [FILE]         write a commented starter config (default portico.yaml)
  version             version and build features
  schema              the config's JSON Schema

options:
  -c, --config FILE   config file (default: portico.yaml)
  --workers N         override server.workers
  --log-level L       override observability.log_level (trace debug info warn error off)
)";

struct Args {
  std::string command;
  std::string config = "portico.yaml";
  bool config_given = false;
  std::optional<int> workers;
  std::optional<std::string> log_level;
  std::vector<std::string> positional;
  std::string error;
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      auto eq = arg.find('=');
      if (eq != std::string::npos) return arg.substr(eq + 1);
      if (i + 1 < argc) return std::string(argv[++i]);
      args.error = std::string("missing value for ") + name;
      return std::nullopt;
    };
    if (arg == "-c" || arg == "--config" || arg.starts_with("--config=")) {
      if (auto v = value("--config")) {
        args.config = *v;
        args.config_given = true;
      }
    } else if (arg == "--workers" || arg.starts_with("--workers=")) {
      if (auto v = value("--workers")) {
        int n = 0;
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc{} || end != v->data() + v->size() || n < 1 || n > 1024)
          args.error = "--workers expects a positive number, got " + *v;
        else
          args.workers = n;
      }
    } else if (arg == "--log-level" || arg.starts_with("--log-level=")) {
      if (auto v = value("--log-level")) {
        static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
        bool known = false;
        for (auto* l : levels) known = known || *v == l;
        if (!known) args.error = "--log-level expects trace|debug|info|warn|error|off, got " + *v;
        args.log_level = *v;
      }
    } else if (arg == "-h" || arg == "--help") {
      args.command = "help";
    } else if (!arg.empty() && arg[0] == '-') {
      args.error = "unknown option " + arg;
    } else if (args.command.empty()) {
      args.command = arg;
    } else {
      args.positional.push_back(arg);
    }
  }
  if (args.command.empty() && args.config_given) args.command = "run";
  return args;
}

int validate(const std::string& path) {
  auto result = portico::config::load_config_file(path);
  for (const auto& error : result.errors) std::cout << error.to_string() << "\n";
  for (const auto& warning : result.warnings) std::cout << "warning: " << warning << "\n";
  if (!result.ok()) {
    std::cout << path << ": " << result.errors.size() << " error(s)\n";
    return 1;
  }
  // What only building can see: key files that do not read or parse, hosts that do not
  // resolve. The control plane is never started: nothing is fetched or probed.
  try {
    portico::observability::NameRegistry names;
    portico::observability::SeriesRegistry series;
    portico::control::ControlPlane background;
    portico::proxy::CompileServices services{names, series, &background, nullptr};
    auto config = std::make_shared<portico::config::Config>(*result.config);
    auto runtime = portico::proxy::compile_runtime(config, 0, services);
    for (const auto& warning : runtime->warnings) std::cout << "warning: " << warning << "\n";
  } catch (const std::exception& e) {
    std::cout << path << ": " << e.what() << "\n" << path << ": 1 error(s)\n";
    return 1;
  }
  std::cout << path << ": ok (" << result.config->routes.size() << " routes, "
            << result.config->upstreams.size() << " upstreams)\n";
  return 0;
}

int init(const std::string& path) {
  if (std::filesystem::exists(path)) {
    std::cerr << "portico init: " << path << " exists; not overwriting it\n";
    return 1;
  }
  std::ofstream out(path);
  out << portico::config::starter_config();
  if (!out) {
    std::cerr << "portico init: cannot write " << path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout << "wrote " << path << "; start with: portico run -c " << path << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (!args.error.empty()) {
    std::cerr << "portico: " << args.error << "\n\n" << usage;
    return 2;
  }
  if (args.command == "version") {
    std::cout << "portico " << PORTICO_VERSION
              << "\nfeatures: http1 proxy, router (trie + RE2), reload, drain, metrics, "
                 "access log, admin API, tls listener, websocket\n"
              << "allocator: " << allocator_name() << "\n";
    return 0;
  }
  if (args.command == "schema") {
    std::cout << portico::config::config_json_schema() << "\n";
    return 0;
  }
  if (args.command == "init")
    return init(args.positional.empty() ? "portico.yaml" : args.positional.front());
  if (args.command == "validate") return validate(args.config);
  if (args.command == "run") {
    if (!std::filesystem::exists(args.config)) {
      std::cerr << "portico: config file " << args.config
                << " not found; write a starter one with `portico init`\n";
      return 1;
    }
    portico::server::Gateway gateway(args.config, {args.workers, args.log_level});
    return gateway.run();
  }
  if (args.command == "help") {
    std::cout << usage;
    return 0;
  }
  std::cerr << (args.command.empty() ? "portico: no command\n\n"
                                     : "portico: unknown command " + args.command + "\n\n")
            << usage;
  return 2;
}
