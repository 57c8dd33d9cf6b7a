#include "config/config_schema.h"

namespace portico::config {

std::string_view config_json_schema() {
  // Kept beside config.md's keys: a key added to the loader is added here too.
  static constexpr std::string_view kSchema = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "portico.yaml",
  "description": "Portico API gateway configuration. Any string value may use ${VAR} or ${VAR:-default}.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "server": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "listen": {
          "description": "One or more addresses: host:port, [::]:port.",
          "anyOf": [{"$ref": "#/$defs/address"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/address"}}]
        },
        "workers": {
          "description": "Event-loop threads; auto = one per CPU core.",
          "anyOf": [{"const": "auto"}, {"type": "integer", "minimum": 1, "maximum": 1024}, {"$ref": "#/$defs/env"}]
        },
        "tls": {
          "type": "object",
          "additionalProperties": false,
          "required": ["certificates"],
          "properties": {
            "certificates": {
              "type": "array",
              "minItems": 1,
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["cert", "key"],
                "properties": {"cert": {"type": "string"}, "key": {"type": "string"}}
              }
            },
            "min_version": {"description": "Oldest TLS version accepted; 1.0 and 1.1 are always refused.", "enum": ["1.2", "1.3"]},
            "client_ca": {"description": "PEM bundle verifying client certificates (mutual TLS).", "type": "string"},
            "client_auth": {"description": "With client_ca: require a certificate, or accept clients without one.", "enum": ["require", "optional"]}
          }
        },
        "limits": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "max_header_bytes": {"$ref": "#/$defs/size"},
            "max_body_bytes": {"$ref": "#/$defs/size"},
            "header_timeout": {"$ref": "#/$defs/duration"},
            "idle_timeout": {"$ref": "#/$defs/duration"},
            "max_connections": {"$ref": "#/$defs/positiveInteger"}
          }
        },
        "trusted_proxies": {"$ref": "#/$defs/stringList"},
        "request_id_header": {"$ref": "#/$defs/headerName"},
        "drain_timeout": {"$ref": "#/$defs/duration"}
      }
    },
    "admin": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "listen": {"$ref": "#/$defs/address"},
        "token": {"type": ["string", "null"], "description": "When non-empty, /admin/* needs Authorization: Bearer <token>."}
      }
    },
    "upstreams": {
      "type": ["object", "null"],
      "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"},
      "additionalProperties": {"$ref": "#/$defs/upstream"}
    },
    "auth": {
      "type": ["object", "null"],
      "additionalProperties": {"$ref": "#/$defs/authProvider"}
    },
    "rate_limits": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "store": {"$ref": "#/$defs/store"},
        "redis": {"$ref": "#/$defs/redis"},
        "on_store_error": {"anyOf": [{"enum": ["allow", "deny"]}, {"$ref": "#/$defs/env"}]},
        "policies": {
          "type": "object",
          "additionalProperties": {
            "type": "object",
            "additionalProperties": false,
            "required": ["key", "rate"],
            "properties": {
              "key": {"type": "string", "description": "client_ip | consumer | header:NAME | jwt:CLAIM | route | global, joined with +"},
              "rate": {"$ref": "#/$defs/rate"},
              "burst": {"$ref": "#/$defs/positiveInteger"}
            }
          }
        }
      }
    },
    "cache": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "store": {"$ref": "#/$defs/store"},
        "redis": {"$ref": "#/$defs/redis"},
        "max_size": {"$ref": "#/$defs/size"},
        "max_object_size": {"$ref": "#/$defs/size"}
      }
    },
    "cors": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "allow_origins": {"$ref": "#/$defs/stringList"},
        "allow_methods": {"$ref": "#/$defs/stringList"},
        "allow_headers": {"$ref": "#/$defs/stringList"},
        "expose_headers": {"$ref": "#/$defs/stringList"},
        "allow_credentials": {"$ref": "#/$defs/boolean"},
        "max_age": {"$ref": "#/$defs/duration"}
      }
    },
    "observability": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "properties": {
        "access_log": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "path": {"type": "string", "description": "stdout | stderr | off | a file"},
            "format": {"enum": ["json"]}
          }
        },
        "log_level": {"enum": ["trace", "debug", "info", "warn", "error", "off"]},
        "tracing": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "propagate": {"$ref": "#/$defs/boolean"},
            "otlp_endpoint": {"type": "string", "pattern": "^(https?://|\\$\\{)"},
            "sample_ratio": {"$ref": "#/$defs/percent"}
          }
        }
      }
    },
    "defaults": {
      "type": ["object", "null"],
      "additionalProperties": false,
      "description": "Route settings applied to every route that does not set them.",
      "properties": {
        "auth": {"$ref": "#/$defs/stringList"},
        "rate_limit": {"$ref": "#/$defs/stringList"},
        "cors": {"$ref": "#/$defs/boolean"},
        "compress": {"$ref": "#/$defs/boolean"},
        "timeout": {"$ref": "#/$defs/duration"},
        "cache": {"$ref": "#/$defs/routeCache"}
      }
    },
    "routes": {
      "type": ["array", "null"],
      "items": {"$ref": "#/$defs/route"}
    },
    "watch": {"$ref": "#/$defs/boolean", "description": "Reload when the file changes."}
  },
  "$defs": {
    "env": {"type": "string", "pattern": "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}"},
    "duration": {
      "description": "A number and ms, s, m or h: 250ms, 2s, 5m.",
      "anyOf": [{"type": "string", "pattern": "^ *[0-9]+ *(ms|s|m|min|h)$"}, {"$ref": "#/$defs/env"}]
    },
    "size": {
      "description": "Bytes, or a number and KiB, MiB, GiB: 16KiB, 10MiB.",
      "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^ *[0-9]+ *(B|KiB|MiB|GiB|KB|MB|GB)?$"}, {"$ref": "#/$defs/env"}]
    },
    "rate": {
      "description": "count/unit: 100/s, 1000/min, 10/h.",
      "anyOf": [{"type": "string", "pattern": "^ *[1-9][0-9]*/(s|m|min|h)$"}, {"$ref": "#/$defs/env"}]
    },
    "percent": {
      "description": "50%, or a number from 0 to 1.",
      "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string", "pattern": "^[0-9.]+%$"}, {"$ref": "#/$defs/env"}]
    },
    "integer": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/env"}]},
    "positiveInteger": {"anyOf": [{"type": "integer", "minimum": 1}, {"$ref": "#/$defs/env"}]},
    "boolean": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/env"}]},
    "address": {
      "description": "host:port; 0.0.0.0 and [::] for all interfaces.",
      "anyOf": [{"type": "string", "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$"}, {"$ref": "#/$defs/env"}]
    },
    "headerName": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
    "stringList": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "stringMap": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "store": {"anyOf": [{"enum": ["memory", "redis"]}, {"$ref": "#/$defs/env"}]},
    "redis": {
      "type": "object",
      "additionalProperties": false,
      "required": ["url"],
      "properties": {
        "url": {"type": "string", "pattern": "^(rediss?://|\\$\\{)"},
        "timeout": {"$ref": "#/$defs/duration"},
        "password": {"type": "string"}
      }
    },
    "target": {
      "anyOf": [
        {"type": "string", "pattern": "^(https?://|\\$\\{)"},
        {
          "type": "object",
          "additionalProperties": false,
          "required": ["url"],
          "properties": {
            "url": {"type": "string", "pattern": "^(https?://|\\$\\{)"},
            "weight": {"$ref": "#/$defs/positiveInteger"}
          }
        }
      ]
    },
    "upstream": {
      "type": "object",
      "additionalProperties": false,
      "required": ["targets"],
      "properties": {
        "targets": {"anyOf": [{"$ref": "#/$defs/target"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/target"}}]},
        "protocol": {"enum": ["http1", "http2", "grpc"]},
        "balance": {"enum": ["round_robin", "least_connections", "random", "consistent_hash"]},
        "hash_key": {"type": "string", "pattern": "^(client_ip|path|header:.+|cookie:.+|jwt:.+)$"},
        "timeouts": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "connect": {"$ref": "#/$defs/duration"},
            "request": {"$ref": "#/$defs/duration"},
            "idle": {"$ref": "#/$defs/duration"}
          }
        },
        "max_connections": {"$ref": "#/$defs/positiveInteger"},
        "dns_refresh": {"$ref": "#/$defs/duration"},
        "retries": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "attempts": {"$ref": "#/$defs/integer"},
            "on": {"type": "array", "items": {"anyOf": [{"enum": ["connect_failure", "reset", "timeout"]}, {"type": "integer", "minimum": 400, "maximum": 599}]}},
            "backoff": {"$ref": "#/$defs/duration"},
            "budget": {"$ref": "#/$defs/percent"},
            "methods": {"$ref": "#/$defs/stringList"}
          }
        },
        "circuit_breaker": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "consecutive_failures": {"$ref": "#/$defs/positiveInteger"},
            "failure_rate": {"$ref": "#/$defs/percent"},
            "window": {"$ref": "#/$defs/duration"},
            "min_requests": {"$ref": "#/$defs/positiveInteger"},
            "open_for": {"$ref": "#/$defs/duration"},
            "half_open_requests": {"$ref": "#/$defs/positiveInteger"},
            "max_requests": {"$ref": "#/$defs/positiveInteger"}
          }
        },
        "health_check": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "type": {"enum": ["http", "tcp"]},
            "path": {"type": "string", "pattern": "^/"},
            "interval": {"$ref": "#/$defs/duration"},
            "timeout": {"$ref": "#/$defs/duration"},
            "healthy_after": {"$ref": "#/$defs/positiveInteger"},
            "unhealthy_after": {"$ref": "#/$defs/positiveInteger"}
          }
        },
        "outlier_detection": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "consecutive_failures": {"$ref": "#/$defs/positiveInteger"},
            "eject_for": {"$ref": "#/$defs/duration"},
            "max_ejected": {"$ref": "#/$defs/percent"}
          }
        },
        "tls": {
          "description": "How https:// targets are reached.",
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "ca": {"type": "string", "minLength": 1},
            "verify": {"type": "boolean"},
            "server_name": {"type": "string", "minLength": 1},
            "cert": {"type": "string", "minLength": 1},
            "key": {"type": "string", "minLength": 1}
          }
        }
      }
    },
    "authProvider": {
      "type": "object",
      "required": ["type"],
      "properties": {
        "type": {"enum": ["jwt", "api_key", "oauth2_introspection"]}
      },
      "allOf": [
        {
          "if": {"properties": {"type": {"const": "jwt"}}},
          "then": {
            "additionalProperties": false,
            "properties": {
              "type": true,
              "secret": {"type": "string"},
              "public_key": {"type": "string"},
              "jwks_url": {"type": "string"},
              "jwks_file": {"type": "string"},
              "algorithms": {"type": "array", "items": {"enum": ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]}},
              "issuer": {"type": "string"},
              "audience": {"$ref": "#/$defs/stringList"},
              "leeway": {"$ref": "#/$defs/duration"},
              "token_from": {"type": "array", "items": {"type": "string", "pattern": "^(header|query|cookie):.+$"}},
              "forward_claims": {"type": "object", "additionalProperties": {"$ref": "#/$defs/headerName"}},
              "roles_claim": {"type": "string"}
            },
            "oneOf": [{"required": ["secret"]}, {"required": ["public_key"]}, {"required": ["jwks_url"]}, {"required": ["jwks_file"]}]
          }
        },
        {
          "if": {"properties": {"type": {"const": "api_key"}}},
          "then": {
            "additionalProperties": false,
            "properties": {
              "type": true,
              "header": {"$ref": "#/$defs/headerName"},
              "keys": {"type": "object", "additionalProperties": {"type": "string"}},
              "keys_file": {"type": "string"}
            },
            "oneOf": [{"required": ["keys"]}, {"required": ["keys_file"]}]
          }
        },
        {
          "if": {"properties": {"type": {"const": "oauth2_introspection"}}},
          "then": {
            "additionalProperties": false,
            "required": ["url", "client_id"],
            "properties": {
              "type": true,
              "url": {"type": "string"},
              "client_id": {"type": "string"},
              "client_secret": {"type": "string"},
              "cache_ttl": {"$ref": "#/$defs/duration"}
            }
          }
        }
      ]
    },
    "routeCache": {
      "type": "object",
      "additionalProperties": false,
      "required": ["ttl"],
      "properties": {
        "ttl": {"$ref": "#/$defs/duration"},
        "vary": {"$ref": "#/$defs/stringList"}
      }
    },
    "valueMatches": {
      "description": "Exact values; a leading ~ makes the value an RE2 pattern.",
      "type": "object",
      "additionalProperties": {"type": ["string", "number", "boolean"]}
    },
    "route": {
      "type": "object",
      "additionalProperties": false,
      "required": ["match"],
      "oneOf": [{"required": ["upstream"]}, {"required": ["respond"]}, {"required": ["aggregate"]}, {"required": ["grpc"]}],
      "properties": {
        "name": {"type": "string", "description": "Unique; defaults to the match's path."},
        "match": {
          "type": "object",
          "additionalProperties": false,
          "oneOf": [{"required": ["prefix"]}, {"required": ["path"]}, {"required": ["regex"]}],
          "properties": {
            "prefix": {"type": "string", "pattern": "^/"},
            "path": {"type": "string", "pattern": "^/", "description": "Literal segments and {param} segments; {rest...} catches the tail."},
            "regex": {"type": "string", "description": "RE2"},
            "methods": {"$ref": "#/$defs/stringList"},
            "host": {"type": "string"},
            "headers": {"$ref": "#/$defs/valueMatches"},
            "query": {"$ref": "#/$defs/valueMatches"}
          }
        },
        "upstream": {"type": "string"},
        "strip_prefix": {"type": "string", "pattern": "^/"},
        "rewrite": {"type": "string", "pattern": "^/"},
        "set_headers": {"$ref": "#/$defs/stringMap"},
        "remove_headers": {"$ref": "#/$defs/stringList"},
        "response_headers": {"$ref": "#/$defs/stringMap"},
        "auth": {"$ref": "#/$defs/stringList", "description": "A provider, a list of providers (any one may pass), or none."},
        "require_roles": {"$ref": "#/$defs/stringList"},
        "require_scopes": {"$ref": "#/$defs/stringList"},
        "rate_limit": {"$ref": "#/$defs/stringList"},
        "cache": {"$ref": "#/$defs/routeCache"},
        "compress": {"$ref": "#/$defs/boolean"},
        "timeout": {"$ref": "#/$defs/duration"},
        "cors": {"$ref": "#/$defs/boolean"},
        "websocket": {
          "description": "Relay WebSocket upgrades (true, the default on upstream routes), refuse them with 403 (false), or set the idle timeout.",
          "anyOf": [{"$ref": "#/$defs/boolean"}, {"type": "object", "additionalProperties": false, "properties": {"idle_timeout": {"$ref": "#/$defs/duration"}}}]
        },
        "aggregate": {
          "type": "object",
          "additionalProperties": false,
          "required": ["calls"],
          "properties": {
            "timeout": {"$ref": "#/$defs/duration"},
            "calls": {
              "type": "object",
              "minProperties": 1,
              "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "required": ["upstream", "path"],
                "properties": {
                  "upstream": {"type": "string"},
                  "path": {"type": "string", "pattern": "^/"},
                  "optional": {"$ref": "#/$defs/boolean"}
                }
              }
            }
          }
        },
        "grpc": {
          "type": "object",
          "additionalProperties": false,
          "required": ["upstream", "descriptors", "method"],
          "properties": {
            "upstream": {"type": "string"},
            "descriptors": {"type": "string"},
            "method": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "json_names": {"enum": ["camel", "original"]}
          }
        },
        "respond": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "body": {"type": "string"},
            "headers": {"$ref": "#/$defs/stringMap"}
          }
        }
      }
    }
  }
})schema";
  return kSchema;
}

}  // namespace portico::config
